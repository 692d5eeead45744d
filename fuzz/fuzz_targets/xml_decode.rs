//! XML decoding, then, for what decodes, the element paths every diagnostic uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raccordo::formats::xml::{decode, XmlLimits};

fuzz_target!(|data: &[u8]| {
    let limits = XmlLimits { max_bytes: 1 << 20, max_depth: 32, max_elements: 10_000 };
    if let Ok(document) = decode(data, limits) {
        for id in 0..document.len() {
            let _ = document.path(id);
        }
    }
});
