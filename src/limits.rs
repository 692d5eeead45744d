//! Limits on abuse, per party: a request rate (governor's GCRA, with a burst) and a number
//! of requests in flight. A party over either is refused (the API answers 429 with
//! `Retry-After`); other parties' limits are their own, so one party's flood never slows
//! another's intake.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

struct PartyLimit {
    rate: Option<DefaultDirectRateLimiter>,
    in_flight: Option<Arc<Semaphore>>,
}

/// Every party's limits, built from the configuration.
pub struct PartyLimits {
    parties: HashMap<String, PartyLimit>,
    clock: DefaultClock,
}

impl std::fmt::Debug for PartyLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartyLimits").field("parties", &self.parties.len()).finish()
    }
}

/// Why a request was not let through, and how long to wait before the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub retry_after_seconds: u64,
}

/// A request let through; dropping it frees its place among those in flight.
#[derive(Debug)]
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

impl PartyLimits {
    pub fn new(config: &Config) -> PartyLimits {
        let defaults = &config.limits;
        let parties = config
            .parties
            .iter()
            .map(|party| {
                let own = party.limits.as_ref();
                let rate = own.and_then(|l| l.requests_per_second).or(defaults.party_requests_per_second);
                let burst = own.and_then(|l| l.burst).or(defaults.party_burst);
                let in_flight = own.and_then(|l| l.concurrent_requests).or(defaults.party_concurrent_requests);
                let rate = rate.and_then(NonZeroU32::new).map(|rate| {
                    let burst = burst.and_then(NonZeroU32::new).unwrap_or(rate);
                    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
                });
                let in_flight = in_flight.filter(|n| *n > 0).map(|n| Arc::new(Semaphore::new(n as usize)));
                (party.id.clone(), PartyLimit { rate, in_flight })
            })
            .collect();
        PartyLimits { parties, clock: DefaultClock::default() }
    }

    /// Lets a request of `party` through, or says why not and how long to wait.
    pub fn admit(&self, party: &str) -> Result<Admission, Refusal> {
        let Some(limit) = self.parties.get(party) else { return Ok(Admission { _permit: None }) };
        if let Some(rate) = &limit.rate {
            if let Err(not_until) = rate.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(Refusal {
                    reason: "this party sends faster than its limit",
                    retry_after_seconds: seconds.max(1),
                });
            }
        }
        let permit = match &limit.in_flight {
            Some(semaphore) => Some(Arc::clone(semaphore).try_acquire_owned().map_err(|_| Refusal {
                reason: "this party has too many requests in flight",
                retry_after_seconds: 1,
            })?),
            None => None,
        };
        Ok(Admission { _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assets::Assets;
    use crate::ingest::Catalog;

    fn limits(text: &str) -> PartyLimits {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        PartyLimits::new(&Config::parse(text, "limits.toml", &catalog).unwrap())
    }

    const PARTIES: &str = "[[parties]]\nid = \"a\"\nkind = \"cpi\"\ncode = \"A\"\nname = \"A\"\nlimits = { concurrent_requests = 1, requests_per_second = 1000 }\n\
        [[parties]]\nid = \"b\"\nkind = \"cpi\"\ncode = \"B\"\nname = \"B\"\n";

    #[test]
    fn requests_in_flight_are_limited_per_party() {
        let limits = limits(&format!("[limits]\nparty_concurrent_requests = 5\n{PARTIES}"));
        let first = limits.admit("a").unwrap();
        assert!(limits.admit("a").is_err(), "a second request of a while one is in flight");
        let others: Vec<_> = (0..5).map(|_| limits.admit("b").unwrap()).collect();
        assert!(limits.admit("b").is_err(), "b's own limit, from [limits]");
        drop(first);
        assert!(limits.admit("a").is_ok());
        drop(others);
    }

    #[test]
    fn the_rate_allows_a_burst_then_refuses_with_a_wait() {
        let limits = limits(&format!("[limits]\nparty_requests_per_second = 2\nparty_burst = 3\n{PARTIES}"));
        for _ in 0..3 {
            drop(limits.admit("b").unwrap());
        }
        let refused = limits.admit("b").unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1);
        drop(limits.admit("a").unwrap());
    }
}
