//! XML Schema (XSD) validation of party documents with libxml2, the reference validator
//! most Italian PA systems themselves use, through the bindings in `formats::libxml2`.
//!
//! A pure-Rust XSD validator mature enough for the real CO, SAP and SIUSS schemas does not
//! exist; libxml2 is on every Debian machine. Its contexts are not `Send`, so each thread
//! compiles a schema once, on first use, and keeps it (`thread_local`); `XsdSchema::compile`
//! compiles it once at load as well so a broken XSD fails at start.
//! Documents reach libxml2 only after `xml::decode` accepted them, so DOCTYPEs, external
//! entities and oversized inputs never get that far.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::libxml2::{Problem, Schema};
use super::xml::{decode, XmlDocument, XmlLimits};
use crate::error::{Diagnostic, ErrorCode};

/// A compiled-on-demand XSD, shareable between threads.
#[derive(Debug, Clone)]
pub struct XsdSchema {
    key: String,
    source: Arc<[u8]>,
}

thread_local! {
    static CONTEXTS: RefCell<HashMap<String, Schema>> = RefCell::new(HashMap::new());
}

impl XsdSchema {
    /// Compiles the XSD once to check it; `key` names it in messages and caches.
    pub fn compile(key: &str, source: &[u8]) -> Result<XsdSchema, String> {
        let schema = XsdSchema { key: key.to_owned(), source: Arc::from(source) };
        schema.with_context(|_| ())?;
        Ok(schema)
    }

    fn with_context<T>(&self, work: impl FnOnce(&mut Schema) -> T) -> Result<T, String> {
        CONTEXTS.with(|contexts| {
            let mut contexts = contexts.borrow_mut();
            if !contexts.contains_key(&self.key) {
                let schema = Schema::compile(&self.source).map_err(|problems| {
                    let reasons: Vec<String> = problems.into_iter().map(|p| p.message).collect();
                    format!("{}: the XSD does not compile: {}", self.key, reasons.join("; "))
                })?;
                contexts.insert(self.key.clone(), schema);
            }
            let schema = contexts.get_mut(&self.key).ok_or_else(|| format!("{}: no context", self.key))?;
            Ok(work(schema))
        })
    }

    /// Validates a document that `xml::decode` produced as `decoded` from `bytes`. Each
    /// problem is located by element path (from the line libxml2 reports) and line.
    pub fn validate(&self, bytes: &[u8], decoded: &XmlDocument<'_>) -> Vec<Diagnostic> {
        self.validate_then_locate(bytes, |problems| problems.iter().map(|p| diagnose(p, decoded)).collect())
    }

    /// Validates a document raccordo wrote itself. It is decoded (to name the elements at
    /// fault) only when libxml2 finds a problem, which a correct mapping never causes.
    pub fn validate_written(&self, bytes: &[u8], limits: XmlLimits) -> Vec<Diagnostic> {
        self.validate_then_locate(bytes, |problems| match decode(bytes, limits) {
            Ok(decoded) => problems.iter().map(|p| diagnose(p, &decoded)).collect(),
            Err(diagnostic) => vec![diagnostic],
        })
    }

    fn validate_then_locate(
        &self,
        bytes: &[u8],
        locate: impl FnOnce(&[Problem]) -> Vec<Diagnostic>,
    ) -> Vec<Diagnostic> {
        match self.with_context(|schema| schema.validate(bytes)) {
            Ok(Ok(problems)) if problems.is_empty() => Vec::new(),
            Ok(Ok(problems)) => locate(&problems),
            // Our decoder accepted what libxml2 refuses: rare (it is stricter on some
            // encodings); the line still says where.
            Ok(Err(problems)) => problems
                .into_iter()
                .map(|problem| {
                    let mut diagnostic = Diagnostic::error(
                        ErrorCode::XmlSyntax,
                        "",
                        format!("libxml2 could not parse the document: {}", readable(&problem.message)),
                    );
                    diagnostic.line = problem.line;
                    diagnostic
                })
                .collect(),
            Err(reason) => vec![Diagnostic::error(ErrorCode::Internal, "", reason)],
        }
    }
}

/// Turns one libxml2 message into a diagnostic. Messages naming a value are rewritten:
/// libxml2 quotes the offending value, and a value may be a codice fiscale.
fn diagnose(problem: &Problem, decoded: &XmlDocument<'_>) -> Diagnostic {
    let line = problem.line;
    let message = problem.message.trim();
    let element = quoted_after(message, "Element '").map(strip_namespace);
    let attribute = quoted_after(message, "attribute '");
    let path = locate(decoded, line, element.as_deref(), attribute.as_deref());
    let (code, text) = if message.contains("[facet '") || message.contains("is not a valid value") {
        (ErrorCode::XsdValue, value_problem(message))
    } else if attribute.is_some() || message.contains("The attribute") {
        (ErrorCode::XsdAttribute, readable(message))
    } else if message.contains("not expected")
        || message.contains("Missing child")
        || message.contains("is not allowed")
        || message.contains("No matching global")
        || message.contains("Character content")
    {
        (ErrorCode::XsdStructure, readable(message))
    } else {
        (ErrorCode::XsdViolation, readable(message))
    };
    let mut diagnostic = Diagnostic::error(code, path, text);
    diagnostic.line = line;
    diagnostic
}

/// What a value breaks, from libxml2's message but without the value: the facet and what
/// it allows (the pattern, the enumeration's values, the length or range), or the type.
fn value_problem(message: &str) -> String {
    // libxml2 quotes the value after "The value " and goes on with one of these; the rest
    // names only the schema's side (a pattern, a set, a limit), never the value.
    const PHRASES: [(&str, &str); 11] = [
        ("is not accepted by the pattern ", "it must match the pattern "),
        ("is not an element of the set ", "it must be one of "),
        ("this differs from the allowed length of ", "its length must be "),
        ("this underruns the allowed minimum length of ", "its length must be at least "),
        ("this exceeds the allowed maximum length of ", "its length must be at most "),
        ("is less than the minimum value allowed ", "it must be at least "),
        ("is greater than the maximum value allowed ", "it must be at most "),
        ("must be greater than ", "it must be greater than "),
        ("must be less than ", "it must be less than "),
        ("has more digits than are allowed ", "its digits must be at most "),
        ("has more fractional digits than are allowed ", "its decimal digits must be at most "),
    ];
    if let Some(facet) = quoted_after(message, "[facet '") {
        let allowed = PHRASES.iter().find_map(|(phrase, text)| {
            // The last occurrence: the value comes before, and might contain the phrase.
            let start = message.rfind(phrase)? + phrase.len();
            let limit = message[start..].trim_end_matches('.').trim_start_matches('(').trim_end_matches(')');
            Some(format!("{text}{limit}"))
        });
        return match allowed {
            Some(allowed) => format!("the value breaks the XSD facet {facet}: {allowed}"),
            None => format!("the value breaks the XSD facet {facet}"),
        };
    }
    match quoted_after(message, "atomic type '").or_else(|| quoted_after(message, "union type '")) {
        Some(datatype) => format!("the value is not a valid {datatype}, its XSD type"),
        None => "the value is not valid for its XSD type".to_owned(),
    }
}

/// The text between `prefix` and the next `'`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    rest.find('\'').map(|end| rest[..end].to_owned())
}

fn strip_namespace(name: String) -> String {
    match name.rfind('}') {
        Some(index) => name[index + 1..].to_owned(),
        None => name,
    }
}

/// A libxml2 message without namespace URIs in braces, which make names unreadable.
fn readable(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_braces = false;
    for character in message.chars() {
        match character {
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ if !in_braces => out.push(character),
            _ => {}
        }
    }
    out.trim_end_matches('.').to_owned()
}

/// The path of the element named `element` that starts on `line` (the last one there,
/// since libxml2 reports an element at its start tag), with `/@attribute` when given.
fn locate(decoded: &XmlDocument<'_>, line: Option<u64>, element: Option<&str>, attribute: Option<&str>) -> String {
    let found = (0..decoded.len())
        .rev()
        .find(|&id| Some(decoded.line(id)) == line && element.is_none_or(|name| decoded.name(id) == name))
        .or_else(|| (0..decoded.len()).rev().find(|&id| Some(decoded.line(id)) <= line));
    let mut path = found.map(|id| decoded.path(id)).unwrap_or_default();
    if let Some(attribute) = attribute {
        path.push_str("/@");
        path.push_str(attribute);
    }
    path
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::assets::Assets;
    use crate::formats::xml::{decode, XmlLimits};
    use crate::ingest::Catalog;
    use crate::mapping::Layout;

    const XSD: &str = r#"<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" xmlns="urn:t" elementFormDefault="qualified">
  <xs:element name="person">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="name" type="xs:string"/>
        <xs:element name="cf">
          <xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[A-Z]{6}[0-9]{2}[A-Z][0-9]{2}[A-Z][0-9]{3}[A-Z]"/></xs:restriction></xs:simpleType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="id" type="xs:string" use="required"/>
    </xs:complexType>
  </xs:element>
</xs:schema>"#;

    fn check(document: &str, expect: &[(ErrorCode, &str)]) {
        let schema = XsdSchema::compile("test.xsd", XSD.as_bytes()).unwrap();
        let decoded = decode(document.as_bytes(), XmlLimits::default()).unwrap();
        let found: Vec<(ErrorCode, String)> =
            schema.validate(document.as_bytes(), &decoded).into_iter().map(|d| (d.code, d.path)).collect();
        let expect: Vec<(ErrorCode, String)> = expect.iter().map(|(c, p)| (*c, p.to_string())).collect();
        assert_eq!(found, expect);
    }

    #[test]
    fn valid_and_invalid_documents() {
        check(r#"<person xmlns="urn:t" id="1"><name>A</name><cf>RSSMRA80A01H501U</cf></person>"#, &[]);
        check(
            "<person xmlns=\"urn:t\" id=\"1\">\n<name>A</name>\n<cf>rssmra80a01h501u</cf>\n</person>",
            &[(ErrorCode::XsdValue, "/person/cf")],
        );
        check(
            "<person xmlns=\"urn:t\">\n<name>A</name>\n<cf>RSSMRA80A01H501U</cf></person>",
            &[(ErrorCode::XsdAttribute, "/person/@id")],
        );
        check(
            "<person xmlns=\"urn:t\" id=\"1\">\n<cf>RSSMRA80A01H501U</cf>\n</person>",
            &[(ErrorCode::XsdStructure, "/person/cf")],
        );
    }

    #[test]
    fn value_problems_name_the_facet_not_the_value() {
        let check = |message: &str, expect: &str| assert_eq!(value_problem(message), expect);
        check(
            "Element 'cf': [facet 'pattern'] The value 'RSSMRA' is not accepted by the pattern '[A-Z]{6}'.",
            "the value breaks the XSD facet pattern: it must match the pattern '[A-Z]{6}'",
        );
        check(
            "Element 'a', attribute 'b': [facet 'enumeration'] The value 'X' is not an element of the set {'I', 'C'}.",
            "the value breaks the XSD facet enumeration: it must be one of {'I', 'C'}",
        );
        check(
            "Element 'n': [facet 'maxLength'] The value 'ABCDEFG' has a length of '7'; this exceeds the allowed maximum length of '5'.",
            "the value breaks the XSD facet maxLength: its length must be at most '5'",
        );
        check(
            "Element 'h': [facet 'maxInclusive'] The value '99' is greater than the maximum value allowed ('54').",
            "the value breaks the XSD facet maxInclusive: it must be at most '54'",
        );
        check(
            "Element 'd': '31/12/2020' is not a valid value of the atomic type 'xs:date'.",
            "the value is not a valid xs:date, its XSD type",
        );
    }

    #[test]
    fn messages_never_quote_values() {
        let schema = XsdSchema::compile("test.xsd", XSD.as_bytes()).unwrap();
        let document = r#"<person xmlns="urn:t" id="1"><name>A</name><cf>SECRETVALUE1234X</cf></person>"#;
        let decoded = decode(document.as_bytes(), XmlLimits::default()).unwrap();
        let diagnostics = schema.validate(document.as_bytes(), &decoded);
        assert!(!diagnostics.is_empty());
        assert!(diagnostics.iter().all(|d| !d.message.contains("SECRETVALUE")), "{diagnostics:?}");
    }

    /// Every XML conformance vector, and variants of each with one text emptied, gets the
    /// same verdict from libxml2's streaming validator as from its tree, against each XSD
    /// of its profile: `validate` trusts the stream's "valid" (the stream must never accept
    /// what the tree refuses) and asks the tree about the rest (the fast path is lost if
    /// the stream refuses what the tree accepts).
    #[test]
    fn the_stream_and_the_tree_agree_on_the_vectors() {
        let catalog = Catalog::load(&Assets::Embedded).unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for profile in catalog.profiles.iter().filter(|p| matches!(p.layout, Layout::Xml { .. })) {
            let paths: BTreeSet<&String> =
                profile.schema.iter().chain(profile.types.iter().filter_map(|t| t.schema.as_ref())).collect();
            let documents = xml_files(&format!("conformance/profiles/{}", profile.name));
            for path in paths {
                let schema = XsdSchema::compile(path, &Assets::Embedded.read(path).unwrap()).unwrap();
                for document in documents.iter().flat_map(|d| with_one_text_emptied(d)) {
                    let (streamed, tree) = schema
                        .with_context(|s| (s.streamed_accepts(&document), s.validate_tree(&document) == Ok(Vec::new())))
                        .unwrap();
                    assert_eq!(streamed, tree, "{path}: {}", String::from_utf8_lossy(&document));
                    if tree {
                        valid += 1;
                    } else {
                        invalid += 1;
                    }
                }
            }
        }
        assert!(valid > 50 && invalid > 500, "{valid} valid, {invalid} invalid");
    }

    /// The XML files under an embedded `folder`, at any depth.
    fn xml_files(folder: &str) -> Vec<Vec<u8>> {
        let assets = Assets::Embedded;
        let mut files: Vec<Vec<u8>> =
            assets.list(folder, ".xml").unwrap().iter().map(|path| assets.read(path).unwrap()).collect();
        for sub in assets.list_dirs(folder).unwrap() {
            files.extend(xml_files(&sub));
        }
        files
    }

    /// The document, then one copy per text node (up to 40) with that text removed.
    fn with_one_text_emptied(document: &[u8]) -> Vec<Vec<u8>> {
        let mut variants = vec![document.to_vec()];
        let mut at = 0;
        while variants.len() <= 40 {
            let Some(open) = document[at..].iter().position(|&b| b == b'>').map(|i| at + i + 1) else {
                break;
            };
            let end = document[open..].iter().position(|&b| b == b'<').map_or(document.len(), |i| open + i);
            if document[open..end].iter().any(|b| !b.is_ascii_whitespace()) && document[end..].starts_with(b"</") {
                variants.push([&document[..open], &document[end..]].concat());
            }
            at = open;
        }
        variants
    }

    #[test]
    fn a_broken_xsd_fails_to_compile() {
        assert!(XsdSchema::compile(
            "broken.xsd",
            b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>"
        )
        .is_err());
    }
}
