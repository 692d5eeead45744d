//! Jobs on a cron schedule (tokio-cron-scheduler, with seconds, in Europe/Rome time): the
//! INPS pull, the retention purge and the audit checkpoints all start here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler};

use crate::error::Error;

/// The time zone cron expressions are read in.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Rome;

/// Checks a cron expression (six fields, seconds first) without scheduling anything.
pub fn check(expression: &str) -> Result<(), String> {
    Job::new_async_tz(expression, TIME_ZONE, |_, _| Box::pin(async {})).map(|_| ()).map_err(|_| {
        format!("{expression:?} is not a cron expression with seconds (sec min hour day-of-month month day-of-week)")
    })
}

/// What a tick runs.
pub type Tick = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Starts `tick` on `expression`; it runs until the returned scheduler is shut down. `what`
/// names the job in errors.
pub async fn start(what: &str, expression: &str, tick: Tick) -> Result<JobScheduler, Error> {
    let failed = |e: tokio_cron_scheduler::JobSchedulerError| Error::Internal(format!("the {what} schedule: {e}"));
    let scheduler = JobScheduler::new().await.map_err(failed)?;
    let job = Job::new_async_tz(expression, TIME_ZONE, move |_, _| tick()).map_err(failed)?;
    scheduler.add(job).await.map_err(failed)?;
    scheduler.start().await.map_err(failed)?;
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_need_seconds() {
        assert!(check("0 */5 * * * *").is_ok());
        assert!(check("*/1 * * * * *").is_ok());
        assert!(check("*/5 * * * *").is_err(), "five fields");
        assert!(check("every minute").is_err());
    }
}
