//! Realistic traffic for trying, testing and benchmarking raccordo without real parties.

pub mod generate;
pub mod inps;
