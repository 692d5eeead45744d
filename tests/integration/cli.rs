//! The `raccordo` binary as users run it: exit codes, the JSON report, limits, stdin.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a failure with its reason.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use expect_test::expect;
use raccordo::simulate::generate::Generator;
use serde_json::Value;

fn raccordo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raccordo")).args(args).output().unwrap()
}

fn json_stdout(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn valid_and_invalid_files_give_exit_codes_and_a_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut message = Generator::new(1).message("employment.ended").unwrap();
    let valid = write(&dir, "valid.json", message.to_string().as_bytes());
    message["data"]["endDate"] = "2019-02-29".into();
    message["data"]["employment"]["workerCodiceFiscale"] = "RSSMRA80A01H501A".into();
    let invalid = write(&dir, "invalid.json", message.to_string().as_bytes());

    let output = raccordo(&["validate", "--output", "json", &valid]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json_stdout(&output)["files"][0]["valid"], true);
    assert_eq!(json_stdout(&output)["files"][0]["type"], "employment.ended");

    let output = raccordo(&["validate", "--output", "json", &valid, &invalid]);
    assert_eq!(output.status.code(), Some(1));
    let mut report = json_stdout(&output);
    report["files"][0]["file"] = "valid.json".into();
    report["files"][1]["file"] = "invalid.json".into();
    expect![[r#"
        {
          "files": [
            {
              "errors": [],
              "file": "valid.json",
              "type": "employment.ended",
              "valid": true
            },
            {
              "errors": [
                {
                  "code": "RAC-3101",
                  "message": "the codice fiscale's check character is wrong",
                  "name": "cf-checksum",
                  "path": "/data/employment/workerCodiceFiscale",
                  "severity": "error"
                },
                {
                  "code": "RAC-3120",
                  "message": "not a calendar date in the form YYYY-MM-DD",
                  "name": "date-invalid",
                  "path": "/data/endDate",
                  "severity": "error"
                }
              ],
              "file": "invalid.json",
              "type": "employment.ended",
              "valid": false
            }
          ]
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&report).unwrap());
}

#[test]
fn text_output_names_code_path_and_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut message = Generator::new(2).message("permit.status").unwrap();
    message["data"]["codiceFiscale"] = "RSSMRA80A01H501A".into();
    let file = write(&dir, "m.json", message.to_string().as_bytes());
    let output = raccordo(&["validate", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("RAC-3101 cf-checksum at /data/codiceFiscale"), "{text}");
    assert!(!text.contains("RSSMRA80A01H501A"), "a codice fiscale leaked: {text}");
}

#[test]
fn unreadable_files_and_usage_errors_exit_2() {
    let output = raccordo(&["validate", "--output", "json", "/nonexistent/raccordo.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(json_stdout(&output)["files"][0]["errors"][0]["code"], "RAC-7001");
    assert_eq!(raccordo(&["validate"]).status.code(), Some(2));
    assert_eq!(raccordo(&["validate", "--no-such-flag", "x"]).status.code(), Some(2));
}

/// A port another process holds: `serve` says so with its own code, naming the address
/// (it used to report RAC-7001, a file that could not be read).
#[test]
fn a_port_in_use_is_a_listen_failure() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_raccordo"))
        .args(["serve", "--listen", &address])
        .current_dir(dir.path())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("RAC-7010 listen-failed: cannot listen on {address}")), "{stderr}");
}

#[test]
fn a_200_mb_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    // A sparse file: 200 MB long, taking no disk space.
    std::fs::File::create(&path).unwrap().set_len(200 * 1024 * 1024).unwrap();
    let output = raccordo(&["validate", "--output", "json", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_stdout(&output)["files"][0]["errors"][0]["code"], "RAC-1002");
}

#[test]
fn standard_input_is_read_for_a_dash_and_limited_too() {
    let message = Generator::new(3).message("vacancy.closed").unwrap().to_string();
    for (max, code) in [("1000000", 0), ("100", 1)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_raccordo"))
            .args(["validate", "--max-bytes", max, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
        assert_eq!(child.wait_with_output().unwrap().status.code(), Some(code), "max {max}");
    }
}

#[test]
fn schemas_lists_every_type_with_its_file() {
    let output = raccordo(&["schemas", "--output", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report = json_stdout(&output);
    let types = report["types"].as_array().unwrap();
    assert_eq!(types.len(), 16);
    assert!(types.iter().any(|t| t["name"] == "worker.registered"
        && t["type"] == "it.raccordo.worker.registered.v1"
        && t["file"].as_str().unwrap().contains("schemas/standard/worker.registered.v1.schema.json")));
}

#[test]
fn assets_folder_overrides_the_embedded_copies() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = raccordo(&["--assets", root, "schemas"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains(&format!("{root}/schemas/standard/receipt.v1.schema.json")));
    let output = raccordo(&["--assets", "/nonexistent", "schemas"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("RAC-7001"));
}

const SOCIAL_JSON_CASE: &str = "conformance/profiles/social-json/vacancy.published/valid/full-live-in.json";

fn repo_file(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn transform_party_to_canonical_and_back() {
    let output = raccordo(&[
        "transform",
        "--from",
        "social-json",
        "--to",
        "canonical",
        "--time",
        "2026-03-02T10:00:00+01:00",
        &repo_file(SOCIAL_JSON_CASE),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let canonical = json_stdout(&output);
    assert_eq!(canonical["type"], "it.raccordo.vacancy.published.v1");
    assert_eq!(canonical["data"]["contract"]["ccnlLevel"], "CS");

    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "canonical.json", canonical.to_string().as_bytes());
    let output = raccordo(&["transform", "--from", "canonical", "--to", "social-json", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let party = json_stdout(&output);
    let original: Value = serde_json::from_slice(&std::fs::read(repo_file(SOCIAL_JSON_CASE)).unwrap()).unwrap();
    assert_eq!(party, original, "the round trip changed the party message");
}

#[test]
fn transform_reports_problems_in_the_party_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut message: Value = serde_json::from_slice(&std::fs::read(repo_file(SOCIAL_JSON_CASE)).unwrap()).unwrap();
    message["datoreLavoro"]["codiceFiscale"] = "BLLFNC41C52F205A".into();
    message["condizioni"]["tipoContratto"] = "a_chiamata".into();
    let file = write(&dir, "bad.json", message.to_string().as_bytes());
    let output = raccordo(&["transform", "--from", "social-json", "--to", "canonical", "--output", "json", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "an invalid message is not printed");
    let report: Value = serde_json::from_slice(&output.stderr).unwrap();
    let errors: Vec<(String, String, Option<String>)> = report["files"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["canonicalPath"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            // The party's own schema refuses the contract type first; the codice fiscale,
            // which the schema accepts, still gets the standard's verdict.
            ("RAC-3004".into(), "/condizioni/tipoContratto".into(), None),
            ("RAC-3101".into(), "/datoreLavoro/codiceFiscale".into(), Some("/data/employer/codiceFiscale".into())),
        ]
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("BLLFNC41C52F205A"), "a codice fiscale leaked");
}

#[test]
fn unknown_profiles_are_usage_errors() {
    let output =
        raccordo(&["transform", "--from", "no-such-profile", "--to", "canonical", &repo_file(SOCIAL_JSON_CASE)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("RAC-7005"));
}

#[test]
fn profiles_lists_formats_and_directions() {
    let output = raccordo(&["profiles", "--output", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report = json_stdout(&output);
    let social = report["profiles"].as_array().unwrap().iter().find(|p| p["name"] == "social-json").unwrap();
    assert_eq!(social["format"], "json");
    assert_eq!(social["partyKind"], "social");
    assert!(social["types"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "vacancy.published" && t["toCanonical"] == true && t["fromCanonical"] == true));
}

#[test]
fn validate_profile_checks_the_party_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut message: Value = serde_json::from_slice(&std::fs::read(repo_file(SOCIAL_JSON_CASE)).unwrap()).unwrap();
    message["condizioni"]["oreSettimanali"] = "tante".into();
    let bad = write(&dir, "bad.json", message.to_string().as_bytes());
    let output =
        raccordo(&["validate", "--profile", "social-json", "--output", "json", &repo_file(SOCIAL_JSON_CASE), &bad]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_stdout(&output);
    assert_eq!(report["files"][0]["valid"], true);
    assert_eq!(report["files"][1]["errors"][0]["code"], "RAC-3002");
    assert_eq!(report["files"][1]["errors"][0]["path"], "/condizioni/oreSettimanali");
}

#[test]
fn every_standard_valid_vector_is_written_or_refused_by_a_stated_requirement() {
    let output = raccordo(&["profiles", "--coverage", "--output", "json"]);
    let coverage = json_stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    let total = &coverage["total"];
    assert_eq!(total["failed"], 0, "{total}");
    assert!(total["vectors"].as_u64().unwrap() >= 140, "{total}");
    assert!(total["written"].as_u64().unwrap() >= 120, "most vectors are written, not refused: {total}");
    // Every refusal names the requirements that explain it.
    for entry in coverage["entries"].as_array().unwrap() {
        if entry["verdict"] == "required" {
            let requirements = entry["requirements"].as_array().unwrap();
            assert!(!requirements.is_empty() && requirements.iter().all(|r| r.as_str().unwrap().starts_with("PRF-")));
        }
    }
    // The text form says the same.
    let text = raccordo(&["profiles", "--coverage"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("0 failed: coverage 100.0%"));
}

#[test]
fn transform_takes_the_parties_codes_from_the_configuration() {
    let vector = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/standard/worker.registered/valid/minimal.json");
    // Without a configuration nothing fills the SAP's codiceentetit: the requirement says so.
    let alone = raccordo(&["transform", "--from", "canonical", "--to", "cpi-sap", "--output", "json", vector]);
    assert_eq!(alone.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&alone.stderr).unwrap();
    let error = &report["files"][0]["errors"][0];
    assert_eq!((error["code"].as_str(), error["requirement"].as_str()), (Some("RAC-2020"), Some("PRF-cpi-sap-01")));
    // With the configuration, the sending CPI's entity code is written.
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let written = raccordo(&[
        "transform",
        "--from",
        "canonical",
        "--to",
        "cpi-sap",
        "--config",
        config,
        "--recipient",
        "sil-lombardia",
        vector,
    ]);
    assert_eq!(written.status.code(), Some(0), "{}", String::from_utf8_lossy(&written.stderr));
    assert!(String::from_utf8_lossy(&written.stdout).contains("<codiceentetit>D150C000120</codiceentetit>"));
    // A recipient the configuration does not have is a usage error.
    let unknown = raccordo(&[
        "transform",
        "--from",
        "canonical",
        "--to",
        "cpi-sap",
        "--config",
        config,
        "--recipient",
        "nobody",
        vector,
    ]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn validate_and_transform_agree_on_party_files() {
    // `validate --profile` and `transform --to canonical` give the same verdict (both run the
    // party's schema, the translation and the standard): checked through the binary on the
    // first valid and the first two invalid vectors of each profile's first type (each run
    // loads the whole catalog, so not on every vector).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/profiles");
    let mut checked = 0;
    let mut profiles: Vec<_> = std::fs::read_dir(&root).unwrap().map(|p| p.unwrap().path()).collect();
    profiles.sort();
    for profile in profiles {
        let name = profile.file_name().unwrap().to_str().unwrap().to_owned();
        let mut types: Vec<_> = std::fs::read_dir(&profile).unwrap().map(|t| t.unwrap().path()).collect();
        types.sort();
        for (kind, take) in [("valid", 1), ("invalid", 2)] {
            let Some(folder) = types.iter().map(|t| t.join(kind)).find(|f| f.is_dir()) else { continue };
            let mut files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|f| f.unwrap().path())
                .filter(|f| {
                    let text = f.to_str().unwrap();
                    !text.ends_with(".toml") && !text.ends_with(".expected.json")
                })
                .collect();
            files.sort();
            for file in files.iter().take(take) {
                let text = file.to_str().unwrap();
                let validate = raccordo(&["validate", "--profile", &name, text]);
                let transform = raccordo(&["transform", "--from", &name, "--to", "canonical", text]);
                assert_eq!(validate.status.code(), transform.status.code(), "{text}");
                assert_eq!(validate.status.code(), Some(if kind == "valid" { 0 } else { 1 }), "{text}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "{checked} files");
}
