//! JSON decoding and validation against the standard.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use raccordo::assets::Assets;
use raccordo::standard::Standard;

fuzz_target!(|data: &[u8]| {
    static STANDARD: OnceLock<Standard> = OnceLock::new();
    let standard = STANDARD.get_or_init(|| Standard::load(&Assets::Embedded).expect("the standard loads"));
    let _ = raccordo::ingest::validate_canonical(standard, data, 1 << 20);
});
