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
