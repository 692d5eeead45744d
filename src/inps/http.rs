//! Calling INPS's endpoints through a flaky network: transient failures (connection errors,
//! timeouts, 408/425/429 and 5xx) are retried with exponential backoff and jitter, honouring
//! `Retry-After`; anything else is the caller's to interpret.

use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, ErrorCode};
use crate::retry::{classify_status, RetryPolicy, Verdict};

/// Sends the request `build` makes until it gets an answer that is not transient, or the
/// policy's attempts are spent (then `PullSourceUnavailable`). Waits between attempts on
/// `clock`.
pub async fn send_with_retries<F>(
    clock: &Clock,
    backoff: &RetryPolicy,
    what: &str,
    build: F,
) -> Result<reqwest::Response, Error>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (reason, asked) = match build().send().await {
            Ok(response) => match classify_status(response.status().as_u16()) {
                Verdict::Retry(reason) => (reason, retry_after(&response)),
                Verdict::Delivered | Verdict::Permanent(_) => return Ok(response),
            },
            Err(error) if error.is_timeout() => ("timed out".to_owned(), None),
            Err(error) => (format!("did not answer ({})", without_url(&error)), None),
        };
        if attempts >= backoff.max_attempts {
            return Err(Error::Pull {
                code: ErrorCode::PullSourceUnavailable,
                reason: format!("{what}: {reason}, {attempts} attempts"),
            });
        }
        // Retry-After is honoured up to the policy's longest wait.
        let wait = asked.map_or_else(|| backoff.delay(attempts, fastrand::f64()), |asked| asked.min(backoff.max));
        tracing::warn!(target: "raccordo::inps", "{what}: {reason}; attempt {attempts}, next in {} ms", wait.as_millis());
        clock.sleep(wait).await;
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on APIs and read as absent).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A reqwest error without its URL (which may carry a query with dates, never secrets, but
/// is noise in a progress line).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "").replace(url.as_str(), "");
    }
    text
}
