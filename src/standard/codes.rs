//! Code tables of the standard: Italian comuni and foreign states, from the ANPR tables.
//!
//! Both are loaded once at start from `mappings/codes/` (see `tools/derive_codes.py` for how
//! they derive from the official files). The canonical standard codes a comune by its codice
//! catastale (Belfiore code), which, unlike the ISTAT code, does not change when a comune
//! moves to another province; it codes a state by its 3-digit ISTAT code, which, unlike ISO
//! 3166, also covers the stateless (999) and the not-yet-defined (997).

use std::collections::HashMap;

use serde::Deserialize;

use crate::assets::Assets;
use crate::error::Error;

pub const COMUNI_TABLE: &str = "mappings/codes/comuni.csv";
pub const STATES_TABLE: &str = "mappings/codes/states.csv";

/// One foreign state (or Italy) as the standard knows it.
#[derive(Debug, Clone, Deserialize)]
pub struct State {
    pub iso_alpha3: String,
    pub iso_alpha2: String,
    pub iso_numeric: String,
    pub istat: String,
    pub belfiore: String,
    pub name: String,
    #[serde(deserialize_with = "yes_no")]
    pub citizenship: bool,
    #[serde(deserialize_with = "yes_no")]
    pub eu: bool,
    /// EU, EEA or Switzerland: its citizens need no residence permit to work in Italy.
    #[serde(deserialize_with = "yes_no")]
    pub free_movement: bool,
}

/// One comune in one period of its history.
#[derive(Debug, Clone, Deserialize)]
pub struct Comune {
    pub belfiore: String,
    pub istat: String,
    pub name: String,
    pub province: String,
    #[serde(deserialize_with = "yes_no")]
    pub active: bool,
}

/// The loaded tables, shared read-only by every validation.
#[derive(Debug, Default)]
pub struct CodeTables {
    /// Every Belfiore code, current or ceased, sorted: four bytes each, where a set of
    /// strings held 0.9 MiB (docs/PERFORMANCE.md).
    comuni: Vec<[u8; 4]>,
    states: HashMap<String, State>,
}

impl CodeTables {
    pub fn load(assets: &Assets) -> Result<CodeTables, Error> {
        let rows: Vec<Comune> = read_table(assets, COMUNI_TABLE)?;
        let mut comuni = Vec::with_capacity(rows.len());
        for (index, comune) in rows.iter().enumerate() {
            // ANPR's "not available": a few comuni ceased before codes were given have none,
            // and "ND" is no comune's code.
            if comune.belfiore == "ND" {
                continue;
            }
            let code = <[u8; 4]>::try_from(comune.belfiore.as_bytes())
                .ok()
                .filter(|code| code.iter().all(u8::is_ascii_alphanumeric))
                .ok_or_else(|| {
                    let place = format!("{COMUNI_TABLE}:{}", index + 2);
                    Error::asset(
                        place,
                        format!("{:?} is not a Belfiore code (four letters or digits)", comune.belfiore),
                    )
                })?;
            comuni.push(code);
        }
        comuni.sort_unstable();
        comuni.dedup();
        comuni.shrink_to_fit();
        let states: Vec<State> = read_table(assets, STATES_TABLE)?;
        Ok(CodeTables { comuni, states: states.into_iter().map(|state| (state.istat.clone(), state)).collect() })
    }

    /// Whether `code` is the Belfiore code of a comune, current or ceased.
    pub fn is_comune(&self, code: &str) -> bool {
        <[u8; 4]>::try_from(code.as_bytes()).is_ok_and(|code| self.comuni.binary_search(&code).is_ok())
    }

    /// The state with this ISTAT code.
    pub fn state(&self, istat: &str) -> Option<&State> {
        self.states.get(istat)
    }
}

fn read_table<T: for<'de> Deserialize<'de>>(assets: &Assets, path: &str) -> Result<Vec<T>, Error> {
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(assets.open(path)?);
    reader
        .deserialize()
        .enumerate()
        .map(|(index, row)| row.map_err(|error| Error::asset(format!("{path}:{}", index + 2), error)))
        .collect()
}

fn yes_no<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "S" => Ok(true),
        "N" | "" => Ok(false),
        other => Err(serde::de::Error::custom(format!("expected S or N, found {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_tables_load_and_answer() {
        let tables = CodeTables::load(&Assets::Embedded).unwrap();
        assert!(tables.is_comune("H501"), "Roma");
        assert!(tables.is_comune("A001"), "Abano Terme");
        assert!(!tables.is_comune("Z222"), "India is a state, not a comune");
        for code in ["", "ND", "H50", "H5011", "h501", "ÀB1"] {
            assert!(!tables.is_comune(code), "{code:?}");
        }
        let india = tables.state("330").unwrap();
        assert_eq!((india.iso_alpha3.as_str(), india.belfiore.as_str()), ("IND", "Z222"));
        assert!(!india.free_movement);
        assert!(tables.state("100").unwrap().free_movement, "Italy");
        assert!(tables.state("999").is_some(), "stateless");
        assert!(tables.state("000").is_none());
    }

    #[test]
    fn a_comune_whose_code_is_not_four_characters_fails_the_load_at_its_line() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("mappings/codes");
        std::fs::create_dir_all(&folder).unwrap();
        let shipped = |table: &str| std::fs::read_to_string(format!("{}/{table}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        std::fs::write(root.path().join(STATES_TABLE), shipped(STATES_TABLE)).unwrap();
        let comuni = shipped(COMUNI_TABLE).replacen("\nA001;", "\nA0001;", 1);
        std::fs::write(root.path().join(COMUNI_TABLE), comuni).unwrap();
        let Err(Error::Asset { asset, reason }) = CodeTables::load(&Assets::Folder(root.path().to_owned())) else {
            panic!("a five-character code loaded");
        };
        assert_eq!(asset, format!("{COMUNI_TABLE}:2"), "{reason}");
        assert!(reason.contains("\"A0001\""), "{reason}");
    }
}
