//! The one place that reads wall time, so everything else can be given a fixed time in
//! tests and produce byte-identical output.

use chrono::{SecondsFormat, Utc};

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Always the same instant, RFC 3339.
    Fixed(String),
}

impl Clock {
    /// Now as an RFC 3339 instant in UTC, to the second.
    pub fn now_rfc3339(&self) -> String {
        match self {
            Clock::System => Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            Clock::Fixed(instant) => instant.clone(),
        }
    }
}
