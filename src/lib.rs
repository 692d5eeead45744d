//! raccordo: one communication standard for the Italian domestic care-work sector.
//!
//! Job centres (CPI), municipal social services, the Prefecture's immigration desk (SUI) and
//! INPS exchange messages about care workers, families' requests, employments, residence
//! permits and subsidies. raccordo defines the canonical messages (`standard`), validates
//! every message against them, and will translate, route and deliver them between the
//! parties' own formats. Read docs/ARCHITECTURE.md first; the modules below are listed in
//! the order a message meets them.

pub mod api;
pub mod assets;
pub mod checkpoint;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod delivery;
pub mod error;
pub mod formats;
pub mod gateway;
pub mod ingest;
pub mod inps;
pub mod intake;
pub mod jose;
pub mod limits;
pub mod mapping;
pub mod modi;
pub mod parties;
pub mod pki;
pub mod report;
pub mod retention;
pub mod retry;
pub mod routing;
pub mod schedule;
pub mod simulate;
pub mod standard;
pub mod store;
pub mod telemetry;
