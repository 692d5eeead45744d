//! An open-loop load generator for benches/load.sh's steady runs: POSTs a body at a fixed
//! rate over a fixed number of keep-alive connections and reports latency measured from
//! when each request was due, not from when it could be sent (wrk2's model). A closed loop
//! (wrk with a delay between requests) sends less while the server is slow, so its offered
//! rate sags and its percentiles leave out the time requests spent waiting to go out.
//!
//! Each connection has its own schedule (rate / connections per second, start times
//! spread across the first interval); a request due while the connection is still busy
//! goes as soon as it is free, and its wait counts in its latency. A request whose
//! connection was free is timed from when it went.
//!
//! Usage: fixed_rate URL RATE SECONDS CONNECTIONS BODY_FILE [HEADER: VALUE]...
//! `__N__` in the body is replaced by a number unique to the request (ID_BASE, from the
//! environment, then the connection in three digits, then the count in nine).
//! Prints `Requests/sec:`, `50%` and `99%` lines in wrk's format, then the requests sent,
//! the non-2xx answers and the errors. With TIMELINE=1 in the environment it then prints,
//! for each second of the run, the requests answered that fell due in it and their p50,
//! p99 and maximum: where in a run its tail was made.

use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    /// Microseconds from due to answered, one a request.
    latencies: Vec<u64>,
    /// The second of the run each of `latencies` fell due in.
    seconds: Vec<u32>,
    refused: u64,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: fixed_rate URL RATE SECONDS CONNECTIONS BODY_FILE [HEADER: VALUE]...".into());
    }
    let url = args[1].clone();
    let rate: f64 = args[2].parse()?;
    let seconds: f64 = args[3].parse()?;
    let connections: usize = args[4].parse()?;
    let template = std::fs::read_to_string(&args[5])?;
    let mut headers = reqwest::header::HeaderMap::new();
    for header in &args[6..] {
        let (name, value) = header.split_once(':').ok_or_else(|| format!("{header:?} is not NAME: VALUE"))?;
        headers.insert(reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?, value.trim().parse()?);
    }
    let id_base: u64 = std::env::var("ID_BASE").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if rate <= 0.0 || connections == 0 {
        return Err("RATE and CONNECTIONS must be positive".into());
    }
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let duration = Duration::from_secs_f64(seconds);
    // One client a connection (its pool keeps the one keep-alive connection), all made
    // before the clock starts: making one reads the system's certificates.
    let clients = (0..connections)
        .map(|_| {
            reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .default_headers(headers.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut workers = Vec::with_capacity(connections);
    for (connection, client) in clients.into_iter().enumerate() {
        let (url, template) = (url.clone(), template.clone());
        let first = start + interval.mul_f64(connection as f64 / connections as f64);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for count in 0u64.. {
                let due = first + interval * u32::try_from(count).unwrap_or(u32::MAX);
                if due.duration_since(start) >= duration {
                    break;
                }
                // A request whose connection was free when it fell due is timed from when
                // it went (tokio's timer wakes up to a millisecond late: the generator's
                // delay, not the server's); one that waited for its connection, from due.
                let free = Instant::now() <= due;
                tokio::time::sleep_until(due.into()).await;
                let due = if free { Instant::now() } else { due };
                let body = template.replace("__N__", &format!("{id_base}{:03}{count:09}", connection + 1));
                match client.post(&url).body(body).send().await {
                    Ok(response) => {
                        let success = response.status().is_success();
                        // The answer read whole, as a client would, before the clock stops.
                        let read = response.bytes().await.is_ok();
                        match (success, read) {
                            (true, true) => {
                                tally.latencies.push(due.elapsed().as_micros() as u64);
                                tally.seconds.push(due.duration_since(start).as_secs() as u32);
                            }
                            (false, true) => tally.refused += 1,
                            _ => tally.errors += 1,
                        }
                    }
                    Err(_) => tally.errors += 1,
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for worker in workers {
        let tally = worker.await?;
        all.latencies.extend(tally.latencies);
        all.seconds.extend(tally.seconds);
        all.refused += tally.refused;
        all.errors += tally.errors;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut timeline: Vec<Vec<u64>> = Vec::new();
    for (&second, &micros) in all.seconds.iter().zip(&all.latencies) {
        let second = second as usize;
        if timeline.len() <= second {
            timeline.resize_with(second + 1, Vec::new);
        }
        timeline[second].push(micros);
    }
    all.latencies.sort_unstable();
    let percentile = |p: f64| at(&all.latencies, p).map_or_else(|| "-".to_owned(), |millis| format!("{millis:.2}ms"));
    let sent = all.latencies.len() as u64 + all.refused + all.errors;
    println!("Requests/sec: {:.2}", all.latencies.len() as f64 / elapsed);
    println!("     50% {}", percentile(0.50));
    println!("     99% {}", percentile(0.99));
    println!("requests {sent} at {rate:.0}/s offered, non-2xx {}, errors {}", all.refused, all.errors);
    if std::env::var("TIMELINE").is_ok_and(|v| v == "1") {
        for (second, mut latencies) in timeline.into_iter().enumerate() {
            latencies.sort_unstable();
            let at = |p: f64| at(&latencies, p).unwrap_or(0.0);
            println!(
                "second {second:3}: {:6} answered, p50 {:8.2}ms, p99 {:8.2}ms, max {:8.2}ms",
                latencies.len(),
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
    Ok(())
}

/// The `p` quantile of sorted microseconds, in milliseconds; `None` when there are none.
fn at(sorted: &[u64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((last as f64) * p).round() as usize] as f64 / 1000.0)
}
