//! Translation throughput per profile, one thread: party bytes to canonical (decode, map,
//! validate against the standard) and canonical back to party bytes (map, encode, validate
//! against the party's schema), in messages/s and MB/s of party bytes. For XML profiles a
//! bare pass over the same bytes (quick-xml events, each text written out as a JSON string
//! by serde_json), measured in the same run, is the ceiling to compare with: "share" is
//! the translation's MB/s as a percentage of it.
//!
//! Run with `cargo bench --bench profiles`. `PROFILES_ROUNDS=N` runs each measurement N
//! rounds instead of for 2 s: a fixed amount of work, so that `perf stat` or callgrind can
//! count the instructions of two builds on a noisy machine. The corpus: for profiles that
//! write, generated messages (seed 42) written in the profile; for read-only profiles, their
//! conformance vectors.

use std::path::Path;
use std::time::{Duration, Instant};

use raccordo::assets::Assets;
use raccordo::ingest::Catalog;
use raccordo::mapping::{Layout, Profile};
use raccordo::simulate::generate::Generator;
use serde_json::Value;

const MIN_TIME: Duration = Duration::from_secs(2);
const MESSAGES: usize = 400;
const TIME: &str = "2026-03-02T10:00:00+01:00";

fn main() {
    let catalog = Catalog::load(&Assets::Embedded).expect("the shipped catalog loads");
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    println!(
        "{:<18} {:>10} {:>9} {:>10} {:>9} {:>12} {:>7}",
        "profile", "to msg/s", "to MB/s", "back msg/s", "back MB/s", "bare MB/s", "share"
    );
    for profile in catalog.profiles.iter() {
        if filter.as_deref().is_some_and(|f| !profile.name.contains(f)) {
            continue;
        }
        let (documents, records) = corpus(&catalog, profile);
        if documents.is_empty() {
            println!("{:<18} no corpus", profile.name);
            continue;
        }
        let bytes: usize = documents.iter().map(Vec::len).sum();
        let source = format!("urn:raccordo:{}:bench", profile.party_kind);
        let (to_rate, canonical) = {
            let mut canonical = Vec::new();
            let rate = measure(|| {
                canonical.clear();
                for document in &documents {
                    for outcome in catalog.to_canonical(profile, document, &source, TIME) {
                        if let Some(message) = outcome.output {
                            canonical.push(message);
                        }
                    }
                }
            });
            (rate, canonical)
        };
        let back_rate = if profile.types.iter().any(|t| t.from_canonical) && !canonical.is_empty() {
            let batch = profile.is_batch();
            Some(measure(|| {
                if batch {
                    std::hint::black_box(catalog.from_canonical(profile, &canonical, &Default::default()));
                } else {
                    for message in &canonical {
                        std::hint::black_box(catalog.from_canonical(
                            profile,
                            std::slice::from_ref(message),
                            &Default::default(),
                        ));
                    }
                }
            }))
        } else {
            None
        };
        let parse_rate = matches!(profile.layout, Layout::Xml { .. }).then(|| {
            measure(|| {
                for document in &documents {
                    std::hint::black_box(parse_only(document));
                }
            })
        });
        if std::env::var_os("RACCORDO_BENCH_PHASES").is_some() && matches!(profile.layout, Layout::Xml { .. }) {
            let decode = measure(|| {
                for document in &documents {
                    std::hint::black_box(raccordo::formats::xml::decode(document, Default::default()).ok());
                }
            });
            let validate = measure(|| {
                for message in &canonical {
                    std::hint::black_box(catalog.standard.validate(message));
                }
            });
            println!(
                "  phases: decode {:.1} MB/s, validate canonical {:.0} msg/s",
                decode * bytes as f64 / 1e6,
                validate * canonical.len() as f64
            );
        }
        let mb = bytes as f64 / 1e6;
        let per_round = records as f64;
        let to_mbs = to_rate * mb;
        print!("{:<18} {:>10.0} {:>9.1}", profile.name, to_rate * per_round, to_mbs);
        match back_rate {
            Some(rate) => print!(" {:>10.0} {:>9.1}", rate * per_round, rate * mb),
            None => print!(" {:>10} {:>9}", "-", "-"),
        }
        match parse_rate {
            Some(rate) => println!(" {:>12.1} {:>6.1}%", rate * mb, 100.0 * to_mbs / (rate * mb)),
            None => println!(" {:>12} {:>7}", "-", "-"),
        }
    }
    println!(
        "share = to-canonical MB/s (decode + map + validate) / bare quick-xml pass + serde_json write MB/s, same bytes, same run"
    );
}

/// Party documents and the number of messages they hold.
fn corpus(catalog: &Catalog, profile: &Profile) -> (Vec<Vec<u8>>, usize) {
    let writable: Vec<&str> =
        profile.types.iter().filter(|t| t.from_canonical).map(|t| t.message_type.as_str()).collect();
    if !writable.is_empty() {
        let mut generator = Generator::new(42);
        let messages: Vec<Value> =
            (0..MESSAGES).filter_map(|i| generator.message(writable[i % writable.len()])).collect();
        let mut documents = Vec::new();
        let mut count = 0;
        if profile.is_batch() {
            let (written, _) = catalog.from_canonical(profile, &messages, &Default::default());
            count = messages.len();
            documents.extend(written);
        } else {
            for message in &messages {
                let (written, outcomes) =
                    catalog.from_canonical(profile, std::slice::from_ref(message), &Default::default());
                if outcomes.iter().all(|o| o.diagnostics.is_empty()) && written.len() == 1 {
                    documents.extend(written);
                    count += 1;
                }
            }
        }
        if count > 0 {
            // A batch file's failed records still count as read; recount from the output.
            let records = if profile.is_batch() {
                documents
                    .iter()
                    .map(|d| catalog.to_canonical(profile, d, "urn:raccordo:social:bench", TIME).len())
                    .sum()
            } else {
                count
            };
            return (documents, records);
        }
    }
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/profiles").join(&profile.name);
    let mut documents = Vec::new();
    for entry in walk(&folder) {
        if entry.to_string_lossy().contains("/valid/") && !entry.to_string_lossy().ends_with(".expected.json") {
            if let Ok(bytes) = std::fs::read(&entry) {
                documents.push(bytes);
            }
        }
    }
    let documents: Vec<Vec<u8>> = documents.iter().cycle().take(documents.len() * 50).cloned().collect();
    let records =
        documents.iter().map(|d| catalog.to_canonical(profile, d, "urn:raccordo:inps:bench", TIME).len()).sum();
    (documents, records)
}

fn walk(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Events of a bare quick-xml parse, borrowing from the input: the ceiling.
fn parse_only(bytes: &[u8]) -> usize {
    // The ceiling the issue names: a bare quick-xml pass over the bytes that writes each
    // text value out as a JSON string with serde_json (no tree, no mapping, no validation).
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            Ok(quick_xml::events::Event::Text(text)) => {
                let _ = serde_json::to_writer(&mut out, text.xml10_content().as_ref());
            }
            Ok(_) => {}
        }
    }
    out.len()
}

/// Rounds per second of `work`, repeated for at least MIN_TIME.
fn measure(mut work: impl FnMut()) -> f64 {
    work();
    let start = Instant::now();
    let fixed: Option<u64> = std::env::var("PROFILES_ROUNDS").ok().and_then(|rounds| rounds.parse().ok());
    let mut rounds = 0u64;
    while fixed.map_or(start.elapsed() < MIN_TIME, |fixed| rounds < fixed) {
        work();
        rounds += 1;
    }
    rounds as f64 / start.elapsed().as_secs_f64()
}
