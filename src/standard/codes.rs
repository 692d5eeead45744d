//! Code tables of the standard: Italian comuni and foreign states, from the ANPR tables.
//!
//! Both are loaded once at start from `mappings/codes/` (see `tools/derive_codes.py` for how
//! they derive from the official files). The canonical standard codes a comune by its codice
//! catastale (Belfiore code), which, unlike the ISTAT code, does not change when a comune
//! moves to another province; it codes a state by its 3-digit ISTAT code, which, unlike ISO
//! 3166, also covers the stateless (999) and the not-yet-defined (997).

use std::collections::{HashMap, HashSet};

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
    comuni: HashSet<String>,
    states: HashMap<String, State>,
}

impl CodeTables {
    pub fn load(assets: &Assets) -> Result<CodeTables, Error> {
        let comuni: Vec<Comune> = read_table(assets, COMUNI_TABLE)?;
        let states: Vec<State> = read_table(assets, STATES_TABLE)?;
        Ok(CodeTables {
            comuni: comuni.into_iter().map(|comune| comune.belfiore).collect(),
            states: states.into_iter().map(|state| (state.istat.clone(), state)).collect(),
        })
    }

    /// Whether `code` is the Belfiore code of a comune, current or ceased.
    pub fn is_comune(&self, code: &str) -> bool {
        self.comuni.contains(code)
    }

    /// The state with this ISTAT code.
    pub fn state(&self, istat: &str) -> Option<&State> {
        self.states.get(istat)
    }
}

fn read_table<T: for<'de> Deserialize<'de>>(assets: &Assets, path: &str) -> Result<Vec<T>, Error> {
    let bytes = assets.read(path)?;
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(bytes.as_ref());
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
        let india = tables.state("330").unwrap();
        assert_eq!((india.iso_alpha3.as_str(), india.belfiore.as_str()), ("IND", "Z222"));
        assert!(!india.free_movement);
        assert!(tables.state("100").unwrap().free_movement, "Italy");
        assert!(tables.state("999").is_some(), "stateless");
        assert!(tables.state("000").is_none());
    }
}
