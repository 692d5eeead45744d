//! When to try again: the backoff policy both the delivery workers and the INPS pull use,
//! and what a remote HTTP status means. The only place that interprets remote statuses;
//! it depends on neither of its users.

use std::time::Duration;

/// A retry policy: exponential backoff with jitter, and a number of attempts.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

/// What an attempt's result calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Transient: try again later.
    Retry(String),
    /// The recipient refuses this message for good (or it can't be written for it).
    Permanent(String),
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`: exponential from `initial`, capped at `max`,
    /// with jitter between half and all of it so that recipients coming back are not hit by
    /// every queued delivery at once. `random` is in [0, 1).
    pub fn delay(&self, attempts: u32, random: f64) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        base.mul_f64(0.5 + random.clamp(0.0, 1.0) / 2.0)
    }

    /// The verdict after `attempts` attempts, the last one ending as `verdict`.
    pub fn after(&self, attempts: u32, verdict: Verdict) -> Verdict {
        match verdict {
            Verdict::Retry(reason) if attempts >= self.max_attempts => {
                Verdict::Permanent(format!("{reason} (gave up after {attempts} attempts)"))
            }
            other => other,
        }
    }
}

/// Classifies a recipient's HTTP status: 2xx acknowledges; 408, 425, 429 and 5xx are
/// transient; any other 4xx means the recipient won't take this message however often it
/// is sent.
pub fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 425 | 429 | 500..=599 => Verdict::Retry(format!("HTTP {status}")),
        _ => Verdict::Permanent(format!("HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { initial: Duration::from_millis(500), max: Duration::from_secs(10), max_attempts: 4 }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let policy = policy();
        assert_eq!(policy.delay(1, 0.999_999).as_millis(), 499);
        assert_eq!(policy.delay(1, 0.0).as_millis(), 250);
        assert_eq!(policy.delay(2, 0.0).as_millis(), 500);
        assert_eq!(policy.delay(3, 0.0).as_millis(), 1000);
        assert_eq!(policy.delay(20, 0.0).as_millis(), 5000, "capped at max, then jittered");
        assert_eq!(policy.delay(u32::MAX, 1.0).as_millis(), 10_000);
    }

    #[test]
    fn statuses_and_attempt_limits() {
        assert_eq!(classify_status(202), Verdict::Delivered);
        assert_eq!(classify_status(503), Verdict::Retry("HTTP 503".into()));
        assert_eq!(classify_status(429), Verdict::Retry("HTTP 429".into()));
        assert_eq!(classify_status(404), Verdict::Permanent("HTTP 404".into()));
        let policy = policy();
        assert_eq!(policy.after(3, Verdict::Retry("x".into())), Verdict::Retry("x".into()));
        assert!(matches!(policy.after(4, Verdict::Retry("x".into())), Verdict::Permanent(_)));
    }
}
