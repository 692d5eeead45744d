//! The integration tests, one binary: each module is a capability tested from outside the
//! crate, through its public API, its binary and real servers on 127.0.0.1. One binary
//! links the library once, where a binary per file linked it 27 times (the debug build's
//! test binaries took 2.6 GB of disk and most of the build's time). `tests/xsd_threads.rs`
//! stays a binary of its own: it must be its process's first use of libxml2.
//!
//! Run one module's tests with `cargo test --test integration <module>::`.

mod api;
mod audit;
mod cli;
mod common;
mod config;
mod conformance;
mod console;
mod crash;
mod deliverability;
mod delivery;
mod docs;
mod encryption;
mod inps;
mod limits;
mod mapping_errors;
mod mtls;
mod profile_cases;
mod projection;
mod receivers;
mod records;
mod retention;
mod roundtrip;
mod schemas;
mod server;
mod signatures;
mod standard_cases;
mod store;
mod tidy;
