//! Fixed-width decoding, and re-encoding of what decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use raccordo::formats::records::FixedLayout;

fuzz_target!(|data: &[u8]| {
    let layout = FixedLayout::new(
        vec![("TIPO".into(), 1, false, ' '), ("CF".into(), 16, false, ' '), ("ORE".into(), 4, true, '0')],
        "windows-1252".into(),
    );
    if let Ok((records, _)) = layout.decode(data, 1 << 20) {
        for record in records {
            let _ = layout.encode_line(&record.values);
        }
    }
});
