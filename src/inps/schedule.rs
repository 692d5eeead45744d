//! Running the INPS pull on the configuration's cron schedule (tokio-cron-scheduler, with
//! seconds, in Europe/Rome time). A tick while the previous run is still going is skipped:
//! the job's lock (an advisory lock on PostgreSQL) makes that hold across gateway
//! instances too, so with several instances only one of them pulls.

use std::sync::Arc;

use tokio_cron_scheduler::{Job, JobScheduler};

use super::{Puller, Range, Trigger};
use crate::error::{Error, ErrorCode};

/// The time zone cron expressions are read in.
pub const TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Rome;

/// Checks a cron expression (six fields, seconds first) without scheduling anything.
pub fn check(expression: &str) -> Result<(), String> {
    Job::new_async_tz(expression, TIME_ZONE, |_, _| Box::pin(async {})).map(|_| ()).map_err(|_| {
        format!("{expression:?} is not a cron expression with seconds (sec min hour day-of-month month day-of-week)")
    })
}

/// Starts the schedule; the pulls run until the returned scheduler is shut down.
pub async fn start(puller: Arc<Puller>, expression: &str) -> Result<JobScheduler, Error> {
    let failed = |e: tokio_cron_scheduler::JobSchedulerError| Error::Internal(format!("the INPS schedule: {e}"));
    let scheduler = JobScheduler::new().await.map_err(failed)?;
    let job = Job::new_async_tz(expression, TIME_ZONE, move |_, _| {
        let puller = Arc::clone(&puller);
        Box::pin(async move {
            match puller.pull(Trigger::Schedule, Range::default(), &|_| {}).await {
                Ok(_) => {}
                Err(error) if error.code() == ErrorCode::PullInProgress => {
                    tracing::info!(target: "raccordo::inps", "a scheduled pull skipped: the previous run is still going");
                }
                // The run recorded its failure; the next tick tries again from its cursor.
                Err(_) => {}
            }
        })
    })
    .map_err(failed)?;
    scheduler.add(job).await.map_err(failed)?;
    scheduler.start().await.map_err(failed)?;
    tracing::info!(target: "raccordo::inps", schedule = expression, "INPS pull scheduled (Europe/Rome)");
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
