//! JSON decoding with the checks every entry point needs: size, encoding, depth, syntax.

use serde_json::Value;

use crate::error::{Diagnostic, ErrorCode};

/// `value` as compact JSON text. serde_json writes it into a byte buffer, where `Value`'s
/// `Display` passes every piece through `fmt::Write`: an INPS pull spent a tenth of its
/// translating threads' time in that `Display`.
pub fn encode(value: &Value) -> String {
    // Serialising a `Value` does not fail: its keys are strings, its numbers finite.
    serde_json::to_string(value).unwrap_or_default()
}

/// Decodes one JSON document. A leading UTF-8 byte-order mark is ignored (RFC 8259 allows
/// it); anything else that is not UTF-8 is refused with its position.
pub fn decode(bytes: &[u8], max_bytes: u64) -> Result<Value, Diagnostic> {
    if bytes.len() as u64 > max_bytes {
        return Err(Diagnostic::error(
            ErrorCode::InputTooLarge,
            "",
            format!("the input is larger than the limit of {max_bytes} bytes"),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Diagnostic::error(ErrorCode::InputEmpty, "", "the input is empty"));
    }
    if let Err(error) = std::str::from_utf8(bytes) {
        let (line, column) = position(bytes, error.valid_up_to());
        return Err(
            Diagnostic::error(ErrorCode::EncodingInvalid, "", "the input is not valid UTF-8").at_text(line, column)
        );
    }
    serde_json::from_slice(bytes).map_err(|error| {
        // serde_json stops at 128 levels of nesting and says so in its message; that is the
        // only way it tells this case apart.
        let code = if error.to_string().starts_with("recursion limit exceeded") {
            ErrorCode::DepthExceeded
        } else {
            ErrorCode::JsonSyntax
        };
        let text = error.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
        Diagnostic::error(code, "", text).at_text(error.line() as u64, error.column() as u64)
    })
}

/// 1-based line and column of a byte offset.
fn position(bytes: &[u8], offset: usize) -> (u64, u64) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expect: Result<&str, (ErrorCode, u64, u64)>) {
        let got = decode(input, 1024);
        match (got, expect) {
            (Ok(value), Ok(text)) => assert_eq!(value.to_string(), text),
            (Err(diagnostic), Err((code, line, column))) => {
                assert_eq!((diagnostic.code, diagnostic.line, diagnostic.column), (code, Some(line), Some(column)))
            }
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn decodes_and_locates_problems() {
        check(b"\xEF\xBB\xBF{\"a\":1}", Ok("{\"a\":1}"));
        check(b"{\"a\":\n  1,}", Err((ErrorCode::JsonSyntax, 2, 5)));
        check(b"{\"a\":\"\xff\"}", Err((ErrorCode::EncodingInvalid, 1, 7)));
        let deep = "[".repeat(200) + &"]".repeat(200);
        check(deep.as_bytes(), Err((ErrorCode::DepthExceeded, 1, 128)));
    }

    #[test]
    fn empty_and_oversized_inputs() {
        assert_eq!(decode(b"  \n", 1024).unwrap_err().code, ErrorCode::InputEmpty);
        assert_eq!(decode(&[b' '; 2000], 1024).unwrap_err().code, ErrorCode::InputTooLarge);
    }
}
