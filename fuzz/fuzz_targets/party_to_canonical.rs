//! The whole path a party's bytes take to the standard: decode, the party's own schema,
//! detect the type, map (records one by one), validate against the standard, locate every
//! problem. The profile is `RACCORDO_FUZZ_PROFILE` (cpi-sap by default), so each profile is
//! fuzzed on its own, seeded with its conformance vectors (fuzz/run-profiles.sh).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use raccordo::assets::Assets;
use raccordo::ingest::Catalog;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&Assets::Embedded).expect("the embedded catalog loads"))
}

fn profile() -> &'static str {
    static PROFILE: OnceLock<String> = OnceLock::new();
    PROFILE.get_or_init(|| std::env::var("RACCORDO_FUZZ_PROFILE").unwrap_or_else(|_| "cpi-sap".to_owned()))
}

fuzz_target!(|data: &[u8]| {
    let catalog = catalog();
    let profile = catalog.profile(profile()).expect("RACCORDO_FUZZ_PROFILE names a profile");
    for outcome in catalog.to_canonical(profile, data, "urn:raccordo:social:fuzz", "2026-03-02T10:00:00+01:00") {
        // Whatever came out must be a message the standard can be asked about, and every
        // problem must carry a code and a place (possibly the whole document).
        if let Some(message) = &outcome.output {
            let _ = catalog.standard.validate(message);
        }
        for diagnostic in &outcome.diagnostics {
            assert!(!diagnostic.code.id().is_empty());
        }
    }
});
