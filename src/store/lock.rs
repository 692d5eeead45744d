//! SQLite's in-process write lock, and how long each kind of writer holds it.
//!
//! SQLite takes one writer at a time. The store's writers (intake groups, outcome groups,
//! claims, pulled pages and the rest) take this lock in turn before they write, so they
//! queue here rather than on SQLite's busy timeout. The time each kind holds it is what an
//! operator reads to see how close a SQLite gateway is to its limit: when the lock is held
//! nearly all the time, more load only makes the queue longer (`/metrics`:
//! `raccordo_store_write_lock_seconds_total`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Who holds the write lock: the label of the time counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// An intake group: messages received, with their deliveries and audit entries.
    Intake,
    /// An outcome group: delivery attempts' outcomes.
    Outcomes,
    /// A claim of due deliveries.
    Claims,
    /// A page (or several) of an INPS pull or import, and the run's records.
    Pull,
    /// Everything else: replays, retention, sessions, token ids, console actions.
    Other,
}

impl Turn {
    pub const ALL: [Turn; 5] = [Turn::Intake, Turn::Outcomes, Turn::Claims, Turn::Pull, Turn::Other];

    /// The metric's label.
    pub fn label(self) -> &'static str {
        match self {
            Turn::Intake => "intake",
            Turn::Outcomes => "outcomes",
            Turn::Claims => "claims",
            Turn::Pull => "pull",
            Turn::Other => "other",
        }
    }
}

/// The time the write lock was held, and the number of turns, by `Turn`, since the store
/// opened.
#[derive(Debug, Default)]
pub struct WriteLockUse {
    nanos: [AtomicU64; Turn::ALL.len()],
    turns: [AtomicU64; Turn::ALL.len()],
}

impl WriteLockUse {
    /// Seconds held and turns taken by `turn`.
    pub fn of(&self, turn: Turn) -> (f64, u64) {
        let index = turn as usize;
        (self.nanos[index].load(Ordering::Relaxed) as f64 / 1e9, self.turns[index].load(Ordering::Relaxed))
    }

    /// Every kind of writer's label, seconds held and turns taken.
    pub fn reading(&self) -> Vec<(&'static str, f64, u64)> {
        Turn::ALL
            .iter()
            .map(|turn| {
                let (seconds, turns) = self.of(*turn);
                (turn.label(), seconds, turns)
            })
            .collect()
    }

    fn count(&self, turn: Turn, held: std::time::Duration) {
        let index = turn as usize;
        self.nanos[index].fetch_add(u64::try_from(held.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.turns[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// The lock (SQLite only; PostgreSQL has none) and its use.
#[derive(Debug, Clone)]
pub(super) struct WriteLock(Option<(Arc<tokio::sync::Mutex<()>>, Arc<WriteLockUse>)>);

impl WriteLock {
    pub(super) fn new(sqlite: bool) -> WriteLock {
        WriteLock(sqlite.then(|| (Arc::new(tokio::sync::Mutex::new(())), Arc::new(WriteLockUse::default()))))
    }

    /// Waits for the lock (at once on PostgreSQL); `turn` is counted from then until the
    /// guard drops.
    pub(super) async fn hold(&self, turn: Turn) -> Option<Held<'_>> {
        let (lock, used) = self.0.as_ref()?;
        let guard = lock.lock().await;
        Some(Held { _guard: guard, used, turn, since: Instant::now() })
    }

    pub(super) fn used(&self) -> Option<Arc<WriteLockUse>> {
        self.0.as_ref().map(|(_, used)| Arc::clone(used))
    }
}

/// The lock, held by one `Turn` until dropped.
pub(super) struct Held<'l> {
    _guard: tokio::sync::MutexGuard<'l, ()>,
    used: &'l WriteLockUse,
    turn: Turn,
    since: Instant,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.used.count(self.turn, self.since.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_turn_counts_the_time_it_held_the_lock() {
        let lock = WriteLock::new(true);
        let used = lock.used().unwrap();
        {
            let _held = lock.hold(Turn::Claims).await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(lock.hold(Turn::Claims).await);
        drop(lock.hold(Turn::Intake).await);
        let (seconds, turns) = used.of(Turn::Claims);
        assert_eq!(turns, 2);
        assert!(seconds >= 0.02, "{seconds}");
        assert_eq!(used.of(Turn::Intake).1, 1);
        assert_eq!(used.of(Turn::Outcomes), (0.0, 0));
        let labels: Vec<_> = used.reading().iter().map(|(label, _, turns)| (*label, *turns)).collect();
        assert_eq!(labels, [("intake", 1), ("outcomes", 0), ("claims", 2), ("pull", 0), ("other", 0)]);
    }

    #[tokio::test]
    async fn postgresql_has_no_lock_to_count() {
        let lock = WriteLock::new(false);
        assert!(lock.hold(Turn::Intake).await.is_none());
        assert!(lock.used().is_none());
    }
}
