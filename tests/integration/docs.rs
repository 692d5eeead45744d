//! Documents that must agree with the code: docs/ERRORS.md is generated from the registry.
//! Run with UPDATE_EXPECT=1 to rewrite it after changing a code.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use raccordo::error::registry_markdown;

#[test]
fn errors_md_matches_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ERRORS.md");
    let expected = registry_markdown();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(actual == expected, "docs/ERRORS.md is stale: run `UPDATE_EXPECT=1 cargo test --test docs`");
}

#[test]
fn every_code_in_the_docs_exists() {
    // Codes quoted anywhere in docs/ must be registered, so docs can't cite a code we removed.
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(docs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (index, _) in text.match_indices("RAC-") {
            let digits: String = text[index + 4..].chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == 4 {
                let number: u16 = digits.parse().unwrap();
                assert!(
                    raccordo::error::ErrorCode::from_number(number).is_some(),
                    "{} cites RAC-{digits}, which is not registered",
                    path.display()
                );
            }
        }
    }
}
