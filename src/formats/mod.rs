//! Decoders: bytes in a party's format to a neutral document, and encoders back. They know
//! nothing of mappings or of the standard, and never panic on input.

pub mod json;
mod libxml2;
pub mod records;
pub mod xml;
pub mod xsd;

use std::io::Read;
use std::path::Path;

use crate::error::{Diagnostic, Error, ErrorCode};

/// Default limit on one message's size: 16 MiB. SIUSS flows, the largest real payloads the
/// gateway carries, are capped at 10 MB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;

/// What reading an input produced: its bytes, or a diagnostic that it is too large.
pub enum Input {
    Bytes(Vec<u8>),
    TooLarge(Diagnostic),
}

/// Reads a file (or standard input for `-`) but never more than `max_bytes` of it.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Input, Error> {
    let io_error = |source| Error::Io { path: path.to_owned(), source };
    let too_large = || {
        Input::TooLarge(Diagnostic::error(
            ErrorCode::InputTooLarge,
            "",
            format!("the input is larger than the limit of {max_bytes} bytes"),
        ))
    };
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(io_error)?;
        if file.metadata().map_err(io_error)?.len() > max_bytes {
            return Ok(too_large());
        }
        Box::new(file)
    };
    let mut bytes = Vec::new();
    reader.take(max_bytes + 1).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > max_bytes {
        return Ok(too_large());
    }
    Ok(Input::Bytes(bytes))
}
