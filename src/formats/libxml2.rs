//! The few libxml2 functions raccordo calls, bound by hand: XSD compilation, a document
//! read from memory, validation (streamed or of a tree), error callbacks and the matching
//! free functions.
//!
//! Why by hand: the `libxml` crate generates its bindings with bindgen at build time,
//! which needs libclang on the building machine, so `cargo run` failed on a fresh Debian.
//! These declarations follow libxml2's public headers (`xmlschemas.h`, `parser.h`,
//! `xmlerror.h`), whose signatures and the `xmlError` layout have been stable since 2.6;
//! `build.rs` links the system library through pkg-config. This is the only module where
//! `unsafe` is allowed; every pointer it hands out is owned by a type that frees it once.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

#[repr(C)]
struct XmlError {
    domain: c_int,
    code: c_int,
    message: *mut c_char,
    level: c_int,
    file: *mut c_char,
    line: c_int,
    str1: *mut c_char,
    str2: *mut c_char,
    str3: *mut c_char,
    int1: c_int,
    int2: c_int,
    ctxt: *mut c_void,
    node: *mut c_void,
}

#[repr(C)]
struct SchemaParserCtxt {
    _private: [u8; 0],
}
#[repr(C)]
struct SchemaPtr {
    _private: [u8; 0],
}
#[repr(C)]
struct SchemaValidCtxt {
    _private: [u8; 0],
}
#[repr(C)]
struct DocPtr {
    _private: [u8; 0],
}
#[repr(C)]
struct InputBuffer {
    _private: [u8; 0],
}

type StructuredErrorFunc = unsafe extern "C" fn(user_data: *mut c_void, error: *const XmlError);

#[link(name = "xml2")]
extern "C" {
    fn xmlInitParser();
    // `void` before libxml2 2.11, `int` since: the result is not read either way.
    fn xmlSchemaInitTypes();
    fn xmlSchemaNewMemParserCtxt(buffer: *const c_char, size: c_int) -> *mut SchemaParserCtxt;
    fn xmlSchemaSetParserStructuredErrors(
        context: *mut SchemaParserCtxt,
        handler: Option<StructuredErrorFunc>,
        user_data: *mut c_void,
    );
    fn xmlSchemaParse(context: *mut SchemaParserCtxt) -> *mut SchemaPtr;
    fn xmlSchemaFreeParserCtxt(context: *mut SchemaParserCtxt);
    fn xmlSchemaFree(schema: *mut SchemaPtr);
    fn xmlSchemaNewValidCtxt(schema: *mut SchemaPtr) -> *mut SchemaValidCtxt;
    fn xmlSchemaSetValidStructuredErrors(
        context: *mut SchemaValidCtxt,
        handler: Option<StructuredErrorFunc>,
        user_data: *mut c_void,
    );
    fn xmlSchemaValidateDoc(context: *mut SchemaValidCtxt, document: *mut DocPtr) -> c_int;
    fn xmlParserInputBufferCreateMem(buffer: *const c_char, size: c_int, encoding: c_int) -> *mut InputBuffer;
    fn xmlSchemaValidateStream(
        context: *mut SchemaValidCtxt,
        input: *mut InputBuffer,
        encoding: c_int,
        sax: *mut c_void,
        user_data: *mut c_void,
    ) -> c_int;
    fn xmlSchemaValidateSetLocator(context: *mut SchemaValidCtxt, locator: *mut c_void, user_data: *mut c_void);
    fn xmlSetStructuredErrorFunc(user_data: *mut c_void, handler: Option<StructuredErrorFunc>);
    fn xmlSchemaFreeValidCtxt(context: *mut SchemaValidCtxt);
    fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut DocPtr;
    fn xmlFreeDoc(document: *mut DocPtr);
    fn xmlGetLastError() -> *const XmlError;
    fn xmlResetLastError();
}

/// XML_CHAR_ENCODING_NONE: the encoding is found from the byte order mark or declaration.
const DETECT_ENCODING: c_int = 0;

/// XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NONET | XML_PARSE_COMPACT: no output
/// on stderr, no network, short texts kept inside their nodes (fewer allocations, 3-6 %
/// faster translation); entities are not substituted and no DTD is loaded (the defaults).
const READ_OPTIONS: c_int = 32 | 64 | 2048 | 65536;

/// One problem libxml2 reported: its text and, when it knows it, the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub line: Option<u64>,
}

/// Collects the errors of one call; `user_data` points at a `Vec<Problem>`.
unsafe extern "C" fn collect(user_data: *mut c_void, error: *const XmlError) {
    if user_data.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `user_data` is the `Vec<Problem>` the caller registered for the duration of
    // the call that reports here, and `error` is valid during the callback.
    let (problems, error) = unsafe { (&mut *user_data.cast::<Vec<Problem>>(), &*error) };
    problems.push(problem(error));
}

fn problem(error: &XmlError) -> Problem {
    let message = if error.message.is_null() {
        String::new()
    } else {
        // SAFETY: libxml2's message is a NUL-terminated string owned by the error.
        unsafe { CStr::from_ptr(error.message) }.to_string_lossy().trim_end().to_owned()
    };
    let line = u64::try_from(error.line).ok().filter(|line| *line > 0);
    Problem { message, line }
}

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: both are idempotent; calling them once before any other use from several
    // threads is what libxml2 asks for. xmlInitParser does not set up XSD's built-in types
    // before libxml2 2.11, and their lazy set-up is not thread-safe: two schemas compiled
    // at once (the profiles compile on two threads) could each build the table of types,
    // one losing the other's, and a schema then failed with "xs:dateTime does not resolve".
    INIT.call_once(|| unsafe {
        xmlInitParser();
        xmlSchemaInitTypes();
    });
}

fn length(bytes: &[u8]) -> Result<c_int, Problem> {
    c_int::try_from(bytes.len())
        .map_err(|_| Problem { message: "the input is larger than libxml2 accepts".to_owned(), line: None })
}

/// A compiled XSD. libxml2 schemas and validation contexts are not shared between
/// threads here, so this type is neither `Send` nor `Sync`; callers keep one per thread.
pub struct Schema {
    schema: *mut SchemaPtr,
    context: *mut SchemaValidCtxt,
}

impl Schema {
    /// Compiles an XSD held in memory. `xs:include` of relative files can't resolve (there
    /// is no base location), so the profiles ship self-contained XSDs.
    pub fn compile(source: &[u8]) -> Result<Schema, Vec<Problem>> {
        init();
        let size = length(source).map_err(|problem| vec![problem])?;
        let mut problems: Vec<Problem> = Vec::new();
        // SAFETY: the buffer outlives the parser context, which is freed before returning;
        // `problems` outlives every callback, which only happen inside xmlSchemaParse.
        let schema = unsafe {
            let parser = xmlSchemaNewMemParserCtxt(source.as_ptr().cast(), size);
            if parser.is_null() {
                return Err(vec![Problem {
                    message: "libxml2 could not start a schema parser".to_owned(),
                    line: None,
                }]);
            }
            xmlSchemaSetParserStructuredErrors(parser, Some(collect), ptr::from_mut(&mut problems).cast());
            let schema = xmlSchemaParse(parser);
            xmlSchemaFreeParserCtxt(parser);
            schema
        };
        if schema.is_null() {
            if problems.is_empty() {
                problems.push(Problem { message: "the XSD does not compile".to_owned(), line: None });
            }
            return Err(problems);
        }
        // SAFETY: `schema` is a valid compiled schema, freed with the context if this fails.
        let context = unsafe { xmlSchemaNewValidCtxt(schema) };
        if context.is_null() {
            // SAFETY: the schema is ours and unused.
            unsafe { xmlSchemaFree(schema) };
            return Err(vec![Problem {
                message: "libxml2 could not make a validation context".to_owned(),
                line: None,
            }]);
        }
        Ok(Schema { schema, context })
    }

    /// Validates `bytes` and reports what is wrong: `Err` holds the parse errors, `Ok` the
    /// validity errors (empty when the document is valid).
    ///
    /// A document is first validated as libxml2 parses it, without a tree: most documents
    /// are valid, and building and freeing the tree cost more than the validation itself.
    /// Only a document that pass finds fault with is read again into a tree and validated
    /// there, because a tree's errors carry the line of the element's start tag, which
    /// `xsd::locate` needs to name it (a stream reports some problems, a missing child for
    /// one, at the end tag).
    pub fn validate(&mut self, bytes: &[u8]) -> Result<Vec<Problem>, Vec<Problem>> {
        if self.streamed_accepts(bytes) {
            return Ok(Vec::new());
        }
        self.validate_tree(bytes)
    }

    /// Whether the document is well-formed and valid, checked by libxml2's streaming
    /// validator on the parser's events (no network, no DTD: `xml::decode` refused a
    /// DOCTYPE before the document got here). What it reports is dropped: the tree pass
    /// says it again with lines to locate by.
    pub(super) fn streamed_accepts(&mut self, bytes: &[u8]) -> bool {
        init();
        let Ok(size) = length(bytes) else {
            return false;
        };
        let mut ignored: Vec<Problem> = Vec::new();
        let sink = ptr::from_mut(&mut ignored).cast::<c_void>();
        // SAFETY: the input buffer holds a copy of `bytes` (one over them in place,
        // `xmlParserInputBufferCreateStatic`, handed libxml2 2.9's stream corrupted texts).
        // xmlSchemaValidateStream owns it and frees it with the parser context it makes for
        // the call (it leaks only if that context cannot be allocated). `ignored` outlives
        // every callback, and both handlers are removed before it goes out of scope. The
        // parser's own errors go to the thread's structured handler (the stream's parser
        // has no SAX error callbacks), so setting it keeps them off stderr.
        let outcome = unsafe {
            let input = xmlParserInputBufferCreateMem(bytes.as_ptr().cast(), size, DETECT_ENCODING);
            if input.is_null() {
                return false;
            }
            xmlSetStructuredErrorFunc(sink, Some(collect));
            xmlSchemaSetValidStructuredErrors(self.context, Some(collect), sink);
            let outcome =
                xmlSchemaValidateStream(self.context, input, DETECT_ENCODING, ptr::null_mut(), ptr::null_mut());
            // The stream leaves its locator, which reads the parser context it has freed, in
            // the validation context; a tree validation that then reports a problem would
            // call it.
            xmlSchemaValidateSetLocator(self.context, ptr::null_mut(), ptr::null_mut());
            xmlSchemaSetValidStructuredErrors(self.context, None, ptr::null_mut());
            xmlSetStructuredErrorFunc(ptr::null_mut(), None);
            outcome
        };
        outcome == 0 && ignored.is_empty()
    }

    /// Parses `bytes` into a tree (no network, no DTD, no entity substitution) and
    /// validates it.
    pub(super) fn validate_tree(&mut self, bytes: &[u8]) -> Result<Vec<Problem>, Vec<Problem>> {
        let document = Document::read(bytes)?;
        let mut problems: Vec<Problem> = Vec::new();
        // SAFETY: the context and document are valid; `problems` outlives the call, and
        // the handler is removed before it goes out of scope.
        let outcome = unsafe {
            xmlSchemaSetValidStructuredErrors(self.context, Some(collect), ptr::from_mut(&mut problems).cast());
            let outcome = xmlSchemaValidateDoc(self.context, document.0);
            xmlSchemaSetValidStructuredErrors(self.context, None, ptr::null_mut());
            outcome
        };
        if outcome != 0 && problems.is_empty() {
            problems.push(Problem { message: "libxml2 could not validate the document".to_owned(), line: None });
        }
        Ok(problems)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: both pointers were made by `compile`, are non-null and freed only here;
        // the context goes first, since it refers to the schema.
        unsafe {
            xmlSchemaFreeValidCtxt(self.context);
            xmlSchemaFree(self.schema);
        }
    }
}

/// A document libxml2 parsed, freed on drop.
struct Document(*mut DocPtr);

impl Document {
    fn read(bytes: &[u8]) -> Result<Document, Vec<Problem>> {
        init();
        let size = length(bytes).map_err(|problem| vec![problem])?;
        // SAFETY: the buffer is valid for `size` bytes during the call; the returned
        // document owns its own copy. The last error is thread-local in libxml2.
        unsafe {
            xmlResetLastError();
            let document = xmlReadMemory(bytes.as_ptr().cast(), size, ptr::null(), ptr::null(), READ_OPTIONS);
            if document.is_null() {
                let error = xmlGetLastError();
                let problem = if error.is_null() {
                    Problem { message: "libxml2 could not parse the document".to_owned(), line: None }
                } else {
                    problem(&*error)
                };
                xmlResetLastError();
                return Err(vec![problem]);
            }
            Ok(Document(document))
        }
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        // SAFETY: made by xmlReadMemory, non-null, freed only here.
        unsafe { xmlFreeDoc(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XSD: &[u8] = br#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="a"><xs:simpleType><xs:restriction base="xs:int"><xs:maxInclusive value="9"/></xs:restriction></xs:simpleType></xs:element>
</xs:schema>"#;

    #[test]
    fn compiles_reads_and_validates() {
        let mut schema = Schema::compile(XSD).unwrap();
        assert_eq!(schema.validate(b"<a>3</a>"), Ok(Vec::new()));
        let invalid = schema.validate(b"<?xml version='1.0'?>\n<a>12</a>").unwrap();
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        assert_eq!(invalid[0].line, Some(2));
        assert!(invalid[0].message.contains("maxInclusive"), "{invalid:?}");
        // The same context serves many documents.
        assert_eq!(schema.validate(b"<a>9</a>"), Ok(Vec::new()));
    }

    /// `validate` gives the tree's verdict: the stream's "valid" is trusted only because
    /// the stream never accepts what the tree refuses. It may refuse more (libxml2 2.9's
    /// stream and tree treat the whitespace around an xs:int differently); the tree decides
    /// then.
    #[test]
    fn the_stream_accepts_only_what_the_tree_accepts() {
        let mut schema = Schema::compile(XSD).unwrap();
        let cases: [(&[u8], bool); 6] = [
            (b"<a>3</a>", true),
            (b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<a>9</a>", true),
            (b"<a>12</a>", false),
            (b"<b>3</b>", false),
            (b"<a>3</a><a>", false),
            (b"<a>3", false),
        ];
        for (document, valid) in cases {
            let text = String::from_utf8_lossy(document);
            assert_eq!(schema.validate_tree(document) == Ok(Vec::new()), valid, "tree: {text}");
            assert!(!schema.streamed_accepts(document) || valid, "streamed: {text}");
            assert_eq!(schema.validate(document), schema.validate_tree(document), "{text}");
        }
        assert!(schema.streamed_accepts(b"<a>3</a>"));
    }

    /// A tree validation after a refused stream still locates its problem by line. Before
    /// the stream's locator was reset, the tree's error reporting read the stream's freed
    /// parser context here: valgrind shows the read, and the vector test in `xsd`, which
    /// does this hundreds of times, crashed with SIGSEGV.
    #[test]
    fn a_tree_after_a_refused_stream_locates_its_problems() {
        let mut schema = Schema::compile(XSD).unwrap();
        let far = format!("{}<a>12</a>", "\n".repeat(40));
        assert!(!schema.streamed_accepts(far.as_bytes()));
        let problems = schema.validate_tree(b"<a>\n12</a>").unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, Some(1));
    }

    #[test]
    fn a_truncated_document_names_its_line() {
        let mut schema = Schema::compile(XSD).unwrap();
        let problems = schema.validate(b"<a>\n\n3").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(3), "{problems:?}");
    }

    #[test]
    fn a_broken_schema_reports_why() {
        let problems =
            Schema::compile(b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>")
                .err()
                .unwrap();
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| !p.message.is_empty()), "{problems:?}");
    }
}
