//! The error-code registry, the diagnostics that carry codes, and the operational `Error`.
//!
//! Two kinds of failure travel through raccordo. A problem in a message's content is a
//! [`Diagnostic`]: it is collected, never thrown, so a report lists every problem at once. A
//! failure of the machinery (a file that can't be read, a schema that doesn't compile) is an
//! [`Error`], returned through `Result` and classified once at the edge (`main`, the API).
//! Both carry an [`ErrorCode`] from the registry below, whose doc comments are the
//! documentation of each code (`raccordo errors --markdown` prints docs/ERRORS.md from them).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// What a client should do after an error with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retry {
    /// Sending the same bytes again gives the same answer: fix the message first.
    Never,
    /// The condition is transient: the same request may succeed later.
    Later,
}

macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])+
        $variant:ident = ($number:literal, $name:literal, $status:literal, $retry:ident),
    )+) => {
        /// A stable error code. Numbers are grouped by stage: 1xxx decode, 2xxx mapping,
        /// 3xxx standard validation, 4xxx store, 5xxx delivery, 6xxx pull, 7xxx config and CLI,
        /// 8xxx request, 9xxx internal. A released code is never renumbered nor reused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The number, e.g. 3101.
            pub fn number(self) -> u16 {
                match self { $(ErrorCode::$variant => $number,)+ }
            }

            /// The kebab-case name, e.g. `cf-checksum`.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)+ }
            }

            /// The HTTP status the API answers with when this code is the reason for a refusal.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)+ }
            }

            /// Whether a client may retry.
            pub fn retry(self) -> Retry {
                match self { $(ErrorCode::$variant => Retry::$retry,)+ }
            }

            /// The documentation of the code: its doc comment.
            pub fn doc(self) -> &'static str {
                match self { $(ErrorCode::$variant => concat!($($doc, "\n"),+),)+ }
            }
        }
    };
}

error_codes! {
    /// The input is not well-formed JSON. The diagnostic carries the line and column where
    /// the parser stopped.
    JsonSyntax = (1001, "json-syntax", 400, Never),
    /// The input is larger than the configured limit (`max_message_bytes`, 16 MiB by default).
    /// Nothing past the limit is read.
    InputTooLarge = (1002, "input-too-large", 413, Never),
    /// The input is not valid in its declared character encoding (JSON must be UTF-8).
    EncodingInvalid = (1003, "encoding-invalid", 400, Never),
    /// The input nests deeper than the limit (128 levels for JSON, `max_xml_depth` for XML).
    DepthExceeded = (1004, "depth-exceeded", 400, Never),
    /// The input is empty.
    InputEmpty = (1005, "input-empty", 400, Never),
    /// The input declares a character encoding raccordo does not read. XML may be UTF-8,
    /// ISO-8859-1 or Windows-1252; JSON must be UTF-8.
    EncodingUnsupported = (1006, "encoding-unsupported", 415, Never),
    /// The XML document is not well-formed: unclosed or mismatched tags, a second root
    /// element, text outside the root, a malformed attribute.
    XmlSyntax = (1010, "xml-syntax", 400, Never),
    /// The XML document has a DOCTYPE declaration. They are refused because they enable
    /// entity expansion ("billion laughs") and external entities (XXE).
    XmlDoctypeForbidden = (1011, "xml-doctype-forbidden", 400, Never),
    /// The XML document refers to an entity other than the five predefined ones
    /// (`&amp;` `&lt;` `&gt;` `&apos;` `&quot;`) or a character reference.
    XmlEntityForbidden = (1012, "xml-entity-forbidden", 400, Never),
    /// An XML name uses a namespace prefix that is not declared.
    XmlNamespaceUnknown = (1013, "xml-namespace-unknown", 400, Never),
    /// The XML document has more elements than the limit (`max_xml_elements`).
    XmlTooManyElements = (1014, "xml-too-many-elements", 413, Never),

    /// A CSV file is malformed: its header differs from the profile's columns, or a record
    /// has the wrong number of fields or broken quoting. The line is given.
    CsvMalformed = (1020, "csv-malformed", 400, Never),
    /// A fixed-width record's length differs from its layout's. The line is given.
    FixedRecordLength = (1030, "fixed-record-length", 400, Never),

    /// A party value does not have the form its mapping expects (a date in the party's
    /// pattern, a number with the party's decimal separator, a yes/no text).
    ValueUnparsable = (2001, "value-unparsable", 422, Never),
    /// A code has no entry in the mapping's code table or value map, so it can't be
    /// translated (for example a citizenship code unknown to the crosswalk).
    CodeUnmapped = (2002, "code-unmapped", 422, Never),
    /// The party message matches none of the message types its profile maps.
    TypeUndetected = (2003, "type-undetected", 422, Never),
    /// The profile can't translate this message type in this direction.
    DirectionUnsupported = (2004, "direction-unsupported", 422, Never),
    /// A record of a party document that holds several (a benefit of a SIUSS flow, a job
    /// of a SAP, a contract of a list) could not be translated. The whole document is
    /// refused rather than passed on without that record; the path names the record.
    RecordUnmapped = (2005, "record-unmapped", 422, Never),
    /// A value holds a character the party's encoding (Windows-1252) can't represent.
    UnencodableCharacter = (2007, "unencodable-character", 422, Never),
    /// A value is longer than its fixed-width field.
    FixedFieldOverflow = (2008, "fixed-field-overflow", 422, Never),
    /// The party message breaks its XSD's structure: an element missing, unexpected, out of
    /// order or repeated too often.
    XsdStructure = (2010, "xsd-structure", 422, Never),
    /// The party message breaks its XSD's attribute rules: a required attribute missing or
    /// one the XSD does not allow.
    XsdAttribute = (2011, "xsd-attribute", 422, Never),
    /// A value in the party message breaks its XSD type: pattern, enumeration, length,
    /// range or datatype.
    XsdValue = (2012, "xsd-value", 422, Never),
    /// The party message breaks its XSD in a way not covered by a more specific code.
    XsdViolation = (2019, "xsd-violation", 422, Never),
    /// The message is valid in the standard but lacks what a recipient's profile needs to
    /// write it (a per-profile requirement, `PRF-…` in docs/STANDARD.md, named in the
    /// diagnostic with the party element it fills). The gateway refuses such a message at
    /// intake, naming the recipient's profile, instead of accepting a message that could
    /// never be delivered.
    ProfileRequirement = (2020, "profile-requirement", 422, Never),

    /// The message breaks the standard or its profile's rules; the problem document's
    /// `errors` lists every problem, each with its own code.
    MessageInvalid = (3000, "message-invalid", 422, Never),
    /// A property the schema requires is missing. The path points at the missing property.
    RequiredMissing = (3001, "required-missing", 422, Never),
    /// A value has the wrong JSON type (for example a number where a string is expected).
    WrongType = (3002, "wrong-type", 422, Never),
    /// A property that the schema does not define is present. A message whose type is
    /// exactly `….v1` is refused for it by the gateway and by every receiver, so that a typo
    /// never passes unnoticed; in a minor version (`….v1.<n>`) properties the v1 schema does
    /// not define are ignored instead (docs/STANDARD.md, section 7.1).
    UnknownProperty = (3003, "unknown-property", 422, Never),
    /// A value is not one of those the schema allows (an `enum` or `const`).
    ValueNotAllowed = (3004, "value-not-allowed", 422, Never),
    /// A string does not match the pattern its schema requires.
    PatternMismatch = (3005, "pattern-mismatch", 422, Never),
    /// A string is shorter or longer than its schema allows.
    LengthOutOfRange = (3006, "length-out-of-range", 422, Never),
    /// A number is outside the range, or not a multiple of the step, its schema allows.
    NumberOutOfRange = (3007, "number-out-of-range", 422, Never),
    /// An array or object has too few or too many members, or an array repeats an item
    /// that must be unique.
    CountOutOfRange = (3008, "count-out-of-range", 422, Never),
    /// A string is not in the format its schema names (e-mail, URI, date-time).
    FormatInvalid = (3009, "format-invalid", 422, Never),
    /// A value matches none (or more than one) of the alternatives its schema offers.
    NoAlternativeMatched = (3010, "no-alternative-matched", 422, Never),
    /// A value breaks a schema constraint not covered by a more specific code.
    SchemaViolation = (3099, "schema-violation", 422, Never),

    /// A codice fiscale has the right shape but a wrong check character (16-character form)
    /// or check digit (11-digit form).
    CfChecksum = (3101, "cf-checksum", 422, Never),
    /// A codice fiscale has neither the 16-character personal shape (letters, digits or
    /// their omocodia letters, a valid month letter and day) nor the 11-digit numeric shape.
    CfFormat = (3102, "cf-format", 422, Never),
    /// The birth date encoded in a 16-character codice fiscale differs from the person's
    /// birth date in the same message. The path points at the codice fiscale.
    CfBirthDateMismatch = (3104, "cf-birth-date-mismatch", 422, Never),
    /// The sex encoded in a 16-character codice fiscale (day + 40 for women) differs from the
    /// person's sex in the same message. The path points at the codice fiscale.
    CfSexMismatch = (3105, "cf-sex-mismatch", 422, Never),
    /// A comune code is not a codice catastale (Belfiore code) in the ANPR table of comuni,
    /// current or ceased.
    UnknownComune = (3110, "unknown-comune", 422, Never),
    /// A state code is not an ISTAT state code in the ANPR table of foreign states (Italy is
    /// 100, stateless 999).
    UnknownState = (3111, "unknown-state", 422, Never),
    /// A date is not a calendar date in ISO 8601 form `YYYY-MM-DD` (for example 2023-02-31).
    DateInvalid = (3120, "date-invalid", 422, Never),
    /// A date that must lie in the past (a birth date) is after the message's `time`.
    DateInFuture = (3121, "date-in-future", 422, Never),
    /// An end date is before its start date. The path points at the end date.
    DateOrder = (3122, "date-order", 422, Never),
    /// A CCNL level is not a level of the national collective agreement for domestic work
    /// (A, AS, B, BS, C, CS, D, DS).
    CcnlLevelUnknown = (3130, "ccnl-level-unknown", 422, Never),
    /// Weekly hours exceed the domestic-work CCNL limit: 54 hours for a live-in worker
    /// (convivente), 40 for a worker who does not live in (`liveIn` false). When the message
    /// does not say (`liveIn` absent, as in the CO), the live-in limit of 54 applies.
    WeeklyHoursOverLimit = (3131, "weekly-hours-over-limit", 422, Never),
    /// A worker whose citizenship is outside the EU, EEA and Switzerland has no residence
    /// permit (permesso di soggiorno) in the message.
    PermitRequired = (3140, "permit-required", 422, Never),
    /// Two fields that name the same thing differ: `employment.changed`'s and
    /// `employment.ended`'s `inpsRelationshipCode` and `employment.inpsRelationshipCode`.
    /// The path points at the second.
    ValuesDisagree = (3150, "values-disagree", 422, Never),

    /// The document is not a JSON object, so it can't be a CloudEvents envelope.
    EnvelopeNotObject = (3201, "envelope-not-object", 422, Never),
    /// The envelope has no `type` attribute (or it isn't a string), so the message type
    /// can't be told.
    EnvelopeTypeMissing = (3202, "envelope-type-missing", 422, Never),
    /// The envelope's `type` names no message type of the standard. The message lists
    /// the known types.
    UnknownMessageType = (3203, "unknown-message-type", 422, Never),

    /// The storage (SQLite or PostgreSQL) did not answer or refused a statement. Nothing
    /// was accepted; the sender may retry.
    StorageUnavailable = (4001, "storage-unavailable", 503, Later),
    /// A sealed payload does not open with its key: it was altered, truncated, or moved
    /// from another row (sealed values are bound to their row, so a payload copied onto
    /// another message is refused). The message names the row, never the content; a
    /// delivery of such a message is dead-lettered, and nothing else stops.
    SealedValueInvalid = (4002, "sealed-value-invalid", 500, Never),
    /// A payload was sealed with a key id that no configured key has (a key removed from
    /// `storage.encryption.keys` too early). Put the key back, after the current one.
    KeyUnknown = (4003, "key-unknown", 500, Never),
    /// The audit chain disagrees with a signed checkpoint (`raccordo audit verify
    /// --checkpoints`): the entry the checkpoint names has another hash, or is missing. The
    /// chain was rewritten or truncated after the checkpoint was signed.
    AuditCheckpointMismatch = (4005, "audit-checkpoint-mismatch", 500, Never),

    /// The PDND token endpoint refused the client assertion (unknown client or key, wrong
    /// audience or purpose, expired assertion) or answered something that is not a
    /// voucher. The run stops; check `inps.pdnd` in the configuration and the key registered
    /// on PDND.
    PullTokenRefused = (6001, "pull-token-refused", 502, Later),
    /// INPS's e-service or the token endpoint kept failing (5xx, 429, timeouts, refused
    /// connections) through every retry. The run stops where its last page was committed;
    /// the next run resumes there.
    PullSourceUnavailable = (6002, "pull-source-unavailable", 503, Later),
    /// A page from the e-service can't be read: not JSON, no list of communications, or a
    /// cursor that does not advance. Nothing of it is stored and the run stops before it.
    PullPageUnreadable = (6003, "pull-page-unreadable", 502, Later),
    /// Another run of the same pull job is under way (in this process, another process, or
    /// another gateway instance on the same PostgreSQL); this one did not start.
    PullInProgress = (6004, "pull-in-progress", 409, Later),
    /// The e-service refused the request itself (401 after a fresh voucher, 403, other
    /// 4xx): the voucher or the purpose is not accepted for it.
    PullRefused = (6005, "pull-refused", 502, Never),
    /// The configuration has no `[inps]` section: there is nothing to pull from.
    PullNotConfigured = (6006, "pull-not-configured", 500, Never),

    /// A file named on the command line could not be read.
    FileUnreadable = (7001, "file-unreadable", 500, Never),
    /// The command line is malformed: an unknown flag, a missing argument.
    Usage = (7002, "usage", 400, Never),
    /// A schema or code table shipped with raccordo, or named by the user, failed to load
    /// or compile. The message names the file and the reason.
    AssetInvalid = (7003, "asset-invalid", 500, Never),

    /// A mapping file (`mappings/<profile>/*.toml`) is invalid: unknown key, a canonical
    /// field the standard lacks, an undeclared namespace prefix or column, an unknown code
    /// table. The message names the file and line.
    MappingInvalid = (7004, "mapping-invalid", 500, Never),
    /// The profile named (on the command line or in a request) does not exist.
    ProfileUnknown = (7005, "profile-unknown", 400, Never),
    /// The configuration file is invalid, or a key or certificate it names can't be used.
    /// The message names the file, and every problem found with its key and reason;
    /// nothing starts.
    ConfigInvalid = (7006, "config-invalid", 500, Never),
    /// A key file the configuration names (a data key or the index key of
    /// `storage.encryption`) is missing or can't be read. The message names the file and
    /// the configuration key; nothing starts.
    KeyFileUnreadable = (7007, "key-file-unreadable", 500, Never),
    /// A key is not 32 bytes written as 64 hex digits or base64. The message names the file
    /// (or environment variable) and the configuration key, never the content.
    KeyInvalid = (7008, "key-invalid", 500, Never),
    /// A line of an audit checkpoint file is not a checkpoint this gateway's signing key
    /// signed: edited by hand, or from another gateway. The message names the file and
    /// the line.
    CheckpointInvalid = (7009, "checkpoint-invalid", 500, Never),
    /// raccordo could not listen on an address (`serve`'s, a simulator's, the conformance
    /// sandbox's): another process holds the port, or the address is not this machine's.
    /// The message names the address and the reason; nothing starts.
    ListenFailed = (7010, "listen-failed", 500, Never),

    /// The request carries no valid credentials: no client certificate or bearer token that
    /// the configuration maps to a party.
    Unauthenticated = (8001, "unauthenticated", 401, Never),
    /// The caller may not do this: a party sending a message type or profile its `sends`
    /// does not grant, a party asking for what only operators see, an operator searching by
    /// codice fiscale without `codice_fiscale_search` in its configuration.
    NotAllowed = (8002, "not-allowed", 403, Never),
    /// A canonical message's `source` is not the sending party's URN.
    SourceMismatch = (8003, "source-mismatch", 403, Never),
    /// The `Content-Type` does not suit the profile (JSON for canonical and JSON profiles,
    /// XML, CSV or text for the others).
    UnsupportedMediaType = (8004, "unsupported-media-type", 415, Never),
    /// No such message, or none the caller may see (the two are not told apart, so nothing
    /// leaks about other parties' messages).
    NotFound = (8006, "not-found", 404, Never),
    /// A query parameter is malformed (a cursor, a time, a limit).
    BadQuery = (8007, "bad-query", 400, Never),
    /// The party sends faster than its rate limit, or has too many requests in flight
    /// (`[limits]` and the party's `limits` in the configuration). `Retry-After` says when
    /// to try again; other parties are not affected.
    RateLimited = (8008, "rate-limited", 429, Later),
    /// The request took longer than `limits.request_timeout_secs` (30 s by default), reading
    /// its body included; nothing of it was stored. Send it again, at a steadier pace.
    RequestTimeout = (8009, "request-timeout", 408, Later),
    /// A request of the operator console has no valid session: none was given, it expired
    /// (`console.session_minutes` after sign-in), the operator logged out, or the token it
    /// was opened with is no longer in the configuration. Sign in again at `/console/login`.
    SessionRequired = (8010, "session-required", 401, Never),
    /// A console action (a POST under `/console/`) lacks its session's `X-CSRF-Token`
    /// header, or was sent by a page of another origin. Nothing was done.
    CsrfRefused = (8011, "csrf-refused", 403, Never),
    /// A replay was asked of something with nothing to send again: every delivery of the
    /// message was acknowledged, or is still being attempted, or its payload was purged.
    /// The problem's detail says which.
    NothingToReplay = (8012, "nothing-to-replay", 409, Never),

    /// The party must sign what it sends (ModI INTEGRITY_REST_01: `sends.signed` in the
    /// configuration) and the `Digest` or `Agid-JWT-Signature` header is missing.
    SignatureMissing = (8101, "signature-missing", 401, Never),
    /// The `Digest` header is not the SHA-256 of the body: the body changed on the way.
    DigestMismatch = (8102, "digest-mismatch", 400, Never),
    /// The `Agid-JWT-Signature` is not an RS256 JWS that verifies with the certificate in
    /// its `x5c`, or lacks its `jti`.
    SignatureInvalid = (8103, "signature-invalid", 401, Never),
    /// The signer's certificate does not chain to a CA of `signing.trusted_ca`, or it is
    /// not the sending party's (its fingerprint is not in the party's `auth`).
    SignerUntrusted = (8104, "signer-untrusted", 403, Never),
    /// The signer's certificate has expired (or is not valid yet).
    SignerCertificateExpired = (8105, "signer-certificate-expired", 403, Never),
    /// The signature's `iat`/`nbf`/`exp` window does not include now (a minute of clock
    /// skew is tolerated).
    SignatureExpired = (8106, "signature-expired", 401, Never),
    /// The signature's `aud` is not this gateway (`signing.audience`).
    AudienceMismatch = (8107, "audience-mismatch", 401, Never),
    /// The signature's `jti` was seen before: a replayed request.
    SignatureReplayed = (8108, "signature-replayed", 409, Never),
    /// A header the signature covers (`signed_headers`: the digest, the content type) was
    /// changed on the way.
    SignedHeadersMismatch = (8109, "signed-headers-mismatch", 400, Never),

    /// An invariant of raccordo itself was broken. Please report it with the message.
    Internal = (9001, "internal", 500, Later),
}

impl ErrorCode {
    /// The printed form, e.g. `RAC-3101`.
    pub fn id(self) -> String {
        format!("RAC-{:04}", self.number())
    }

    /// Looks a code up by its number.
    pub fn from_number(number: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|code| code.number() == number)
    }

    /// Looks a code up by its printed form (`RAC-3101`) or its name (`cf-checksum`).
    pub fn lookup(text: &str) -> Option<ErrorCode> {
        if let Some(number) = text.strip_prefix("RAC-") {
            return number.parse().ok().and_then(ErrorCode::from_number);
        }
        ErrorCode::ALL.iter().copied().find(|code| code.name() == text)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RAC-{:04}", self.number())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How bad a diagnostic is. Only errors make a message invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a message, with where it is.
///
/// `path` locates the problem in the message as received: a JSON pointer for JSON, an
/// element path (`/inputUniLav/Lavoratore/@codiceFiscale`) for XML, a column or field name
/// for CSV and fixed-width records; empty for the whole document. Decoders that know a text
/// position also fill `line` and `column` (1-based). The message
/// is for people and may improve over time; tools compare `code` and `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: ErrorCode,
    pub severity: Severity,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// For a message translated from a party's format: the JSON pointer of the problem in
    /// the canonical message, while `path` locates it in the party message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_path: Option<String>,
    /// The requirement of docs/STANDARD.md the problem breaks, when one is known (a
    /// per-profile requirement such as `PRF-SAP-01`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<Box<str>>,
    pub message: String,
}

impl Diagnostic {
    pub fn error(code: ErrorCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            path: path.into(),
            line: None,
            column: None,
            canonical_path: None,
            requirement: None,
            message: message.into(),
        }
    }

    pub fn at_text(mut self, line: u64, column: u64) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.code.name())?;
        let path = if self.path.is_empty() { "/" } else { &self.path };
        write!(f, " at {path}")?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An operational failure: something raccordo could not do, as opposed to a problem in a
/// message's content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{asset}: {reason}")]
    Asset { asset: String, reason: String },
    #[error("{file}:{line}: {reason}")]
    Mapping { file: String, line: usize, reason: String },
    #[error("{file}: {key}: {reason}")]
    Config { file: String, key: String, reason: String },
    /// A configuration with several problems: all of them, each with its key.
    #[error("{file}: {} problems:{}", problems.len(), problems.iter().map(|(key, reason)| format!("\n  {key}: {reason}")).collect::<String>())]
    ConfigProblems { file: String, problems: Vec<(String, String)> },
    #[error("storage: {0}")]
    Storage(String),
    #[error("{0}")]
    Usage(String),
    #[error("unknown profile {0:?}; `raccordo profiles` lists them")]
    ProfileUnknown(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Pulling from a source failed; `code` says how.
    #[error("{reason}")]
    Pull { code: ErrorCode, reason: String },
    /// An operational failure with a code of its own (keys, sealed payloads, checkpoints).
    #[error("{reason}")]
    Coded { code: ErrorCode, reason: String },
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { .. } => ErrorCode::FileUnreadable,
            Error::Asset { .. } => ErrorCode::AssetInvalid,
            Error::Mapping { .. } => ErrorCode::MappingInvalid,
            Error::Config { .. } | Error::ConfigProblems { .. } => ErrorCode::ConfigInvalid,
            Error::Storage(_) => ErrorCode::StorageUnavailable,
            Error::Usage(_) => ErrorCode::Usage,
            Error::ProfileUnknown(_) => ErrorCode::ProfileUnknown,
            Error::Internal(_) => ErrorCode::Internal,
            Error::Pull { code, .. } | Error::Coded { code, .. } => *code,
        }
    }

    pub fn coded(code: ErrorCode, reason: impl Into<String>) -> Self {
        Error::Coded { code, reason: reason.into() }
    }

    pub fn asset(asset: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Asset { asset: asset.into(), reason: reason.to_string() }
    }
}

/// Renders the registry as the Markdown of docs/ERRORS.md.
pub fn registry_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated by `raccordo errors --markdown` from the registry in `src/error.rs`; \
         `tests/integration/docs.rs` fails when this file and the registry disagree.\n\n\
         Every diagnostic and every problem document carries one of these codes, in its printed \
         form (`RAC-3101`) with its kebab-case name (`cf-checksum`). Tools should compare codes, \
         never message text. Ranges: 1xxx decode, 2xxx mapping, 3xxx standard validation, \
         4xxx store, 5xxx delivery, 6xxx pull, 7xxx config and CLI, 8xxx request, 9xxx internal. \
         A released code is never renumbered nor reused.\n\n\
         | code | name | HTTP | retry | meaning |\n|---|---|---|---|---|\n",
    );
    for code in ErrorCode::ALL {
        let doc = code.doc().split_whitespace().collect::<Vec<_>>().join(" ");
        let retry = match code.retry() {
            Retry::Never => "no",
            Retry::Later => "later",
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            code.id(),
            code.name(),
            code.http_status(),
            retry,
            doc.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_ordered_and_well_named() {
        let mut numbers = HashSet::new();
        let mut names = HashSet::new();
        let mut previous = 0;
        for code in ErrorCode::ALL {
            assert!(numbers.insert(code.number()), "{code} is used twice");
            assert!(names.insert(code.name()), "{} is used twice", code.name());
            assert!(code.number() > previous, "{code} is out of order");
            previous = code.number();
            assert!((1000..10000).contains(&code.number()));
            assert!(code.name().chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!code.doc().trim().is_empty());
            assert_eq!(ErrorCode::lookup(&code.id()), Some(*code));
            assert_eq!(ErrorCode::lookup(code.name()), Some(*code));
        }
    }

    #[test]
    fn diagnostic_display_names_code_path_and_position() {
        let diagnostic = Diagnostic::error(ErrorCode::JsonSyntax, "", "expected value").at_text(3, 7);
        assert_eq!(diagnostic.to_string(), "RAC-1001 json-syntax at / (line 3, column 7): expected value");
    }
}
