//! Validation throughput: messages of every type per second, from bytes (decode + validate)
//! and from decoded JSON (validate only), on one thread and on every core, beside a bare
//! serde_json decode of the same bytes as the ceiling.
//!
//! Run with `cargo bench --bench validate`. The corpus is generated with a fixed seed, so
//! two runs validate the same messages; figures vary with the machine, ratios much less.

use std::time::{Duration, Instant};

use raccordo::assets::Assets;
use raccordo::formats::DEFAULT_MAX_MESSAGE_BYTES;
use raccordo::ingest;
use raccordo::simulate::generate::{Generator, TYPES};
use raccordo::standard::Standard;
use serde_json::Value;

const CORPUS: usize = 16_000;
const MIN_TIME: Duration = Duration::from_secs(3);

fn main() {
    let standard = Standard::load(&Assets::Embedded).expect("the shipped standard loads");
    let messages = Generator::new(42).corpus(CORPUS);
    let bytes: Vec<Vec<u8>> = messages.iter().map(|m| serde_json::to_vec(m).expect("serialisable")).collect();
    let total_bytes: usize = bytes.iter().map(Vec::len).sum();
    for message in &messages {
        assert!(standard.validate(message).is_valid(), "the corpus must be valid: {message}");
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "corpus: {CORPUS} messages of {} types, {:.1} MiB, mean {} bytes; {threads} cores",
        TYPES.len(),
        total_bytes as f64 / 1048576.0,
        total_bytes / CORPUS
    );
    let decode_and_validate = |chunk: &[Vec<u8>]| {
        chunk.iter().filter(|b| ingest::validate_canonical(&standard, b, DEFAULT_MAX_MESSAGE_BYTES).is_valid()).count()
    };
    let validate_only = |chunk: &[Value]| chunk.iter().filter(|m| standard.validate(m).is_valid()).count();
    let decode_only = |chunk: &[Vec<u8>]| chunk.iter().filter(|b| serde_json::from_slice::<Value>(b).is_ok()).count();
    let ceiling = measure(&bytes, 1, &decode_only);
    let full = measure(&bytes, 1, &decode_and_validate);
    println!(
        "side by side, 1 thread: serde_json decode alone {ceiling:.0}/s, decode + validate {full:.0}/s: validation costs {:.1}x a bare decode",
        ceiling / full
    );
    for (label, rate) in [
        ("bytes -> decode + validate, 1 thread", full),
        (&*format!("bytes -> decode + validate, {threads} threads"), measure(&bytes, threads, &decode_and_validate)),
        ("decoded JSON -> validate,   1 thread", measure(&messages, 1, &validate_only)),
        (&*format!("decoded JSON -> validate,   {threads} threads"), measure(&messages, threads, &validate_only)),
    ] {
        println!(
            "{label}: {rate:>9.0} messages/s ({:.1} MiB/s)",
            rate * (total_bytes as f64 / CORPUS as f64) / 1048576.0
        );
    }
}

/// Messages per second validating `items` split over `threads`, repeated for at least MIN_TIME.
fn measure<T: Sync>(items: &[T], threads: usize, work: &(dyn Fn(&[T]) -> usize + Sync)) -> f64 {
    let chunk = items.len().div_ceil(threads);
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < MIN_TIME {
        done += std::thread::scope(|scope| {
            let handles: Vec<_> = items.chunks(chunk).map(|part| scope.spawn(move || work(part))).collect();
            handles.into_iter().map(|h| h.join().expect("worker thread")).sum::<usize>()
        });
    }
    done as f64 / start.elapsed().as_secs_f64()
}
