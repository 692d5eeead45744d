//! Validation reports as users see them: the JSON wire form of `--output json` and the
//! text form for a terminal. Separate from the internal `Diagnostic` so that the wire
//! contract changes only on purpose.

use serde::Serialize;

use crate::error::{Diagnostic, Severity};

/// `{"files": [...]}`, the JSON report of `raccordo validate`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub files: Vec<FileReport>,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub valid: bool,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub errors: Vec<WireDiagnostic>,
}

/// One diagnostic on the wire: `code` is the printed form (`RAC-3101`), `name` its
/// kebab-case name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WireDiagnostic {
    pub code: String,
    pub name: &'static str,
    pub severity: Severity,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    #[serde(rename = "canonicalPath", skip_serializing_if = "Option::is_none")]
    pub canonical_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<String>,
    pub message: String,
}

impl From<&Diagnostic> for WireDiagnostic {
    fn from(diagnostic: &Diagnostic) -> Self {
        WireDiagnostic {
            code: diagnostic.code.id(),
            name: diagnostic.code.name(),
            severity: diagnostic.severity,
            path: diagnostic.path.clone(),
            line: diagnostic.line,
            column: diagnostic.column,
            canonical_path: diagnostic.canonical_path.clone(),
            requirement: diagnostic.requirement.as_deref().map(str::to_owned),
            message: diagnostic.message.clone(),
        }
    }
}

impl FileReport {
    pub fn new(file: String, message_type: Option<String>, diagnostics: &[Diagnostic]) -> Self {
        FileReport {
            file,
            valid: !diagnostics.iter().any(|d| d.severity == Severity::Error),
            message_type,
            errors: diagnostics.iter().map(WireDiagnostic::from).collect(),
        }
    }
}

impl Report {
    /// The text form: one line per file, then its diagnostics indented.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            let verdict = if file.valid { "valid" } else { "INVALID" };
            let kind = file.message_type.as_deref().unwrap_or("unknown type");
            out.push_str(&format!("{}: {verdict} ({kind})\n", file.file));
            for error in &file.errors {
                let path = if error.path.is_empty() { "/" } else { &error.path };
                out.push_str(&format!("  {} {} at {path}", error.code, error.name));
                match (error.line, error.column) {
                    (Some(line), Some(column)) => out.push_str(&format!(" (line {line}, column {column})")),
                    (Some(line), None) => out.push_str(&format!(" (line {line})")),
                    _ => {}
                }
                if let Some(canonical) = &error.canonical_path {
                    out.push_str(&format!(" [canonical {canonical}]"));
                }
                out.push_str(&format!(": {}\n", error.message));
            }
        }
        let invalid = self.files.iter().filter(|f| !f.valid).count();
        out.push_str(&format!(
            "{} file(s), {} valid, {invalid} invalid\n",
            self.files.len(),
            self.files.len() - invalid
        ));
        out
    }
}
