//! CSV decoding in both encodings, with a fixed header.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use raccordo::formats::records::decode_csv;

fuzz_target!(|data: &[u8]| {
    let columns: Arc<[String]> = ["TIPO_RECORD", "CODICE_FISCALE", "DATA"].iter().map(|s| s.to_string()).collect();
    for encoding in ["utf-8", "windows-1252"] {
        if let Ok((records, _)) = decode_csv(data, ';', encoding, &columns, 1 << 20) {
            for record in records {
                let _ = record.locate(1, raccordo::error::ErrorCode::ValueUnparsable, "x");
            }
        }
    }
});
