//! The one place that reads wall time, so everything else can be given a fixed time in
//! tests and produce byte-identical output.

use chrono::{DateTime, SecondsFormat, Utc};

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

    /// Now as Unix milliseconds, the store's unit.
    pub fn now_millis(&self) -> i64 {
        match self {
            Clock::System => Utc::now().timestamp_millis(),
            Clock::Fixed(instant) => DateTime::parse_from_rfc3339(instant).map_or(0, |t| t.timestamp_millis()),
        }
    }
}

/// Unix milliseconds as an RFC 3339 instant in UTC.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map_or_else(String::new, |t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}
