//! The one place that reads wall time and makes ids, so everything else can be given a
//! fixed or advanceable time and predictable ids in tests, and produce byte-identical
//! output.
//!
//! The gateway's runtime holds one [`Clock`] and one [`Ids`]; retries, leases and schedules
//! ask them rather than the system, so a test with [`Clock::manual`] runs a five-minute
//! backoff by advancing the clock instead of sleeping through it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system's wall clock; sleeping waits for real.
    System,
    /// Always the same instant: `text` as given (RFC 3339), `millis` the same instant.
    Fixed { text: Arc<str>, millis: i64 },
    /// Time that moves only when told to (`advance`) or when something sleeps on it (the
    /// sleep returns at once, the clock having moved by the sleep's length).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock stopped at `instant` (RFC 3339, or `yyyy-mm-dd` for midnight UTC); `None`
    /// when it is neither.
    pub fn fixed(instant: &str) -> Option<Clock> {
        let millis = parse_instant(instant)?;
        Some(Clock::Fixed { text: instant.into(), millis })
    }

    /// An advanceable clock starting at Unix milliseconds `millis`.
    pub fn manual(millis: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(millis)))
    }

    /// Now as an RFC 3339 instant in UTC, to the second (a fixed clock's text as given).
    pub fn now_rfc3339(&self) -> String {
        match self {
            Clock::Fixed { text, .. } => text.to_string(),
            _ => DateTime::<Utc>::from_timestamp_millis(self.now_millis())
                .map_or_else(String::new, |t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }

    /// Now as Unix milliseconds, the store's unit.
    pub fn now_millis(&self) -> i64 {
        match self {
            Clock::System => Utc::now().timestamp_millis(),
            Clock::Fixed { millis, .. } => *millis,
            Clock::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; other clocks don't move.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(now) = self {
            now.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2), Ordering::SeqCst);
        }
    }

    /// Waits `duration`: for real on the system clock; on a manual clock the time moves by
    /// `duration` and the wait ends at once (other tasks get a turn first).
    pub async fn sleep(&self, duration: Duration) {
        match self {
            Clock::Manual(_) => {
                self.advance(duration);
                tokio::task::yield_now().await;
            }
            _ => tokio::time::sleep(duration).await,
        }
    }
}

/// Where new ids come from: UUID v7 (time-ordered, random), or a counter for tests.
#[derive(Debug, Clone, Default)]
pub enum Ids {
    #[default]
    Random,
    /// `00000000-0000-7000-8000-<counter>`: ids in the order they were made.
    Sequential(Arc<AtomicU64>),
}

impl Ids {
    /// A counter starting at 1.
    pub fn sequential() -> Ids {
        Ids::Sequential(Arc::new(AtomicU64::new(1)))
    }

    /// A new id, in the UUID text form.
    pub fn next(&self) -> String {
        match self {
            Ids::Random => uuid::Uuid::now_v7().to_string(),
            Ids::Sequential(counter) => {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                uuid::Uuid::from_u128(0x7000_8000_0000_0000_0000 | (u128::from(n) & 0xffff_ffff_ffff)).to_string()
            }
        }
    }
}

/// Unix milliseconds as an RFC 3339 instant in UTC.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map_or_else(String::new, |t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// An RFC 3339 instant, or a `yyyy-mm-dd` date (midnight UTC), as Unix milliseconds.
pub fn parse_instant(text: &str) -> Option<i64> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_when_told_or_slept_on() {
        let clock = Clock::manual(1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_millis(), 3_000);
        let started = std::time::Instant::now();
        clock.sleep(Duration::from_secs(300)).await;
        assert_eq!(clock.now_millis(), 303_000);
        assert!(started.elapsed() < Duration::from_secs(1), "a manual sleep does not wait");
        assert_eq!(clock.clone().now_millis(), 303_000, "clones share the time");
    }

    #[test]
    fn fixed_clocks_keep_their_text_and_instants_parse() {
        let clock = Clock::fixed("2026-03-02T10:00:00+01:00").unwrap_or(Clock::System);
        assert_eq!(clock.now_rfc3339(), "2026-03-02T10:00:00+01:00");
        assert_eq!(clock.now_millis(), parse_instant("2026-03-02T09:00:00Z").unwrap_or_default());
        assert_eq!(parse_instant("2026-01-01"), Some(1_767_225_600_000));
        assert!(Clock::fixed("yesterday").is_none());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn sequential_ids_are_uuids_in_order() {
        let ids = Ids::sequential();
        let (first, second) = (ids.next(), ids.next());
        assert_eq!(first, "00000000-0000-7000-8000-000000000001");
        assert!(first < second);
        assert!(uuid::Uuid::parse_str(&Ids::Random.next()).is_ok());
    }
}
