//! What a round trip to sqlx's SQLite thread costs: the same small write transaction (a
//! 2 KB row returned by `RETURNING`, a read, two more writes) made as five round trips
//! (`BEGIN`, three queries, `COMMIT`) and as one multi-statement query, one after the
//! other on one connection, `synchronous = NORMAL`. Prints the process's CPU time and the
//! wall time per transaction for each, twice (docs/PERFORMANCE.md, thirteenth pass).
//!
//!     cargo run --release --example sqlite_round_trips [transactions, default 20000]

#![allow(clippy::unwrap_used)] // A measurement: any failure should stop it loudly.

use sqlx::{Connection, Executor, SqliteConnection};
use std::time::Instant;

/// The process's user and system time, in clock ticks (of 10 ms).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args().nth(1).map_or(20_000, |a| a.parse().unwrap());
    let dir = std::env::temp_dir().join(format!("sqlite-round-trips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/p.db?mode=rwc", dir.display());
    let mut c = SqliteConnection::connect(&url).await.unwrap();
    c.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE m(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, body TEXT); CREATE TABLE d(id TEXT, m INTEGER); CREATE TABLE h(id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT); INSERT INTO h VALUES (1, 0, 'x');").await.unwrap();
    let body = "x".repeat(2000);
    for round in 0..2 {
        let (t0, w0) = (cpu_ticks(), Instant::now());
        for i in 0..n {
            let mut tx = c.begin().await.unwrap();
            sqlx::query("INSERT INTO m (id, body) VALUES (?, ?) RETURNING seq")
                .bind(format!("a{round}-{i}"))
                .bind(&body)
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            sqlx::query("SELECT seq, hash FROM h WHERE id = 1").fetch_optional(&mut *tx).await.unwrap();
            sqlx::query("INSERT INTO d VALUES (?, ?); UPDATE h SET seq = seq + 1 WHERE id = 1")
                .bind(format!("d{round}-{i}"))
                .bind(i as i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let (t1, w1) = (cpu_ticks(), w0.elapsed());
        println!(
            "five round trips a group: {:.1} µs CPU, {:.1} µs wall per group",
            (t1 - t0) as f64 * 1e4 / n as f64,
            w1.as_secs_f64() * 1e6 / n as f64
        );
        let (t0, w0) = (cpu_ticks(), Instant::now());
        for i in 0..n {
            sqlx::query("BEGIN; INSERT INTO m (id, body) VALUES (?, ?); SELECT seq, hash FROM h WHERE id = 1; INSERT INTO d VALUES (?, ?); UPDATE h SET seq = seq + 1 WHERE id = 1; COMMIT")
                .bind(format!("b{round}-{i}")).bind(&body).bind(format!("e{round}-{i}")).bind(i as i64)
                .fetch_all(&mut c).await.unwrap();
        }
        let (t1, w1) = (cpu_ticks(), w0.elapsed());
        println!(
            "one round trip a group:    {:.1} µs CPU, {:.1} µs wall per group",
            (t1 - t0) as f64 * 1e4 / n as f64,
            w1.as_secs_f64() * 1e6 / n as f64
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
