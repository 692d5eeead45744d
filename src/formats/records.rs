//! Record files: `;`-separated CSV with a header row, and fixed-width lines. One file holds
//! many records; each decodes on its own, so one bad line never hides the good ones.

use std::sync::Arc;

use crate::error::{Diagnostic, ErrorCode};

/// One record: its values by field position, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fields: Arc<[String]>,
    pub values: Vec<String>,
    /// 1-based line of the record in its file.
    pub line: u64,
    /// For fixed-width records, the 1-based character offset where each field starts.
    pub offsets: Option<Arc<[usize]>>,
}

impl Record {
    /// The value of a field by position.
    pub fn value(&self, index: usize) -> Option<&str> {
        self.values.get(index).map(String::as_str)
    }

    /// Where a field is, for diagnostics: its name as path, with line and column.
    pub fn locate(&self, index: usize, code: ErrorCode, message: impl Into<String>) -> Diagnostic {
        let name = self.fields.get(index).map_or("", String::as_str);
        let column = match &self.offsets {
            Some(offsets) => offsets.get(index).copied().unwrap_or(1) as u64,
            None => index as u64 + 1,
        };
        Diagnostic::error(code, name, message).at_text(self.line, column)
    }
}

/// The text of a file in a declared encoding (`utf-8` or `windows-1252`, which is also
/// read for ISO-8859-1).
pub fn decode_text(bytes: &[u8], encoding: &str) -> Result<String, Diagnostic> {
    match encoding.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            String::from_utf8(bytes.to_vec()).map_err(|error| {
                let offset = error.utf8_error().valid_up_to();
                let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                Diagnostic::error(ErrorCode::EncodingInvalid, "", "the file is not valid UTF-8").at_text(line, 1)
            })
        }
        "windows-1252" | "cp1252" | "iso-8859-1" | "latin1" => {
            Ok(encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned())
        }
        other => Err(Diagnostic::error(
            ErrorCode::EncodingUnsupported,
            "",
            format!("the encoding {other:?} is not supported: use utf-8 or windows-1252"),
        )),
    }
}

/// Encodes text for writing; a character the encoding lacks is a diagnostic, never a `?`.
pub fn encode_text(text: &str, encoding: &str) -> Result<Vec<u8>, Diagnostic> {
    match encoding.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
        "windows-1252" | "cp1252" | "iso-8859-1" | "latin1" => {
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
            if unmappable {
                return Err(Diagnostic::error(
                    ErrorCode::UnencodableCharacter,
                    "",
                    "a value holds a character that Windows-1252 cannot represent",
                ));
            }
            Ok(bytes.into_owned())
        }
        other => Err(Diagnostic::error(
            ErrorCode::EncodingUnsupported,
            "",
            format!("the encoding {other:?} is not supported: use utf-8 or windows-1252"),
        )),
    }
}

/// Decodes a CSV file whose header must equal `columns`. Returns the good records and a
/// diagnostic for each bad line; a bad header is fatal.
pub fn decode_csv(
    bytes: &[u8],
    delimiter: char,
    encoding: &str,
    columns: &Arc<[String]>,
    max_bytes: u64,
) -> Result<(Vec<Record>, Vec<Diagnostic>), Diagnostic> {
    if bytes.len() as u64 > max_bytes {
        return Err(Diagnostic::error(
            ErrorCode::InputTooLarge,
            "",
            format!("the input is larger than the limit of {max_bytes} bytes"),
        ));
    }
    let text = decode_text(bytes, encoding)?;
    if text.trim().is_empty() {
        return Err(Diagnostic::error(ErrorCode::InputEmpty, "", "the input is empty"));
    }
    let delimiter = u8::try_from(delimiter)
        .map_err(|_| Diagnostic::error(ErrorCode::Internal, "", "the CSV delimiter must be a single-byte character"))?;
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = reader.records();
    let header = match rows.next() {
        Some(Ok(header)) => header,
        Some(Err(error)) => {
            return Err(
                Diagnostic::error(ErrorCode::CsvMalformed, "", format!("unreadable header: {error}")).at_text(1, 1)
            )
        }
        None => return Err(Diagnostic::error(ErrorCode::InputEmpty, "", "the input is empty")),
    };
    let found: Vec<&str> = header.iter().map(str::trim).collect();
    if found.len() != columns.len() || found.iter().zip(columns.iter()).any(|(a, b)| a != b) {
        return Err(Diagnostic::error(
            ErrorCode::CsvMalformed,
            "",
            format!("the header must be exactly: {}", columns.join(&char::from(delimiter).to_string())),
        )
        .at_text(1, 1));
    }
    let mut records = Vec::new();
    let mut problems = Vec::new();
    // The csv crate's own line numbers skip blank lines; count newlines before each record's
    // byte offset instead, incrementally.
    let mut lines = LineCounter::new(text.as_bytes());
    for row in rows {
        match row {
            Ok(row) => {
                let line = lines.line_at(row.position().map_or(0, |p| p.byte() as usize));
                if row.iter().all(|value| value.trim().is_empty()) {
                    continue;
                }
                if row.len() != columns.len() {
                    problems.push(
                        Diagnostic::error(
                            ErrorCode::CsvMalformed,
                            "",
                            format!("the record has {} fields, the header {}", row.len(), columns.len()),
                        )
                        .at_text(line, 1),
                    );
                    continue;
                }
                records.push(Record {
                    fields: Arc::clone(columns),
                    values: row.iter().map(str::to_owned).collect(),
                    line,
                    offsets: None,
                });
            }
            Err(error) => {
                let line = lines.line_at(error.position().map_or(0, |p| p.byte() as usize));
                problems.push(
                    Diagnostic::error(ErrorCode::CsvMalformed, "", format!("unreadable record: {error}"))
                        .at_text(line, 1),
                );
            }
        }
    }
    Ok((records, problems))
}

/// Turns byte offsets, visited in increasing order, into 1-based line numbers.
struct LineCounter<'t> {
    text: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t [u8]) -> Self {
        LineCounter { text, offset: 0, line: 1 }
    }

    /// The line of the first character at or after `offset` that is not a line break (the
    /// csv crate may report a record's start on the break that precedes it).
    fn line_at(&mut self, offset: usize) -> u64 {
        let mut offset = offset.min(self.text.len());
        while offset < self.text.len() && matches!(self.text[offset], b'\r' | b'\n') {
            offset += 1;
        }
        if offset > self.offset {
            self.line += self.text[self.offset..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = offset;
        }
        self.line
    }
}

/// Writes records as CSV with the header row.
pub fn encode_csv(
    rows: &[Vec<String>],
    delimiter: char,
    encoding: &str,
    columns: &[String],
) -> Result<Vec<u8>, Diagnostic> {
    let delimiter = u8::try_from(delimiter)
        .map_err(|_| Diagnostic::error(ErrorCode::Internal, "", "the CSV delimiter must be a single-byte character"))?;
    let mut writer =
        csv::WriterBuilder::new().delimiter(delimiter).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let internal = |error: csv::Error| Diagnostic::error(ErrorCode::Internal, "", format!("writing CSV: {error}"));
    writer.write_record(columns).map_err(internal)?;
    for row in rows {
        writer.write_record(row).map_err(internal)?;
    }
    let bytes = writer.into_inner().map_err(|error| internal(error.into_error().into()))?;
    let text =
        String::from_utf8(bytes).map_err(|error| Diagnostic::error(ErrorCode::Internal, "", error.to_string()))?;
    encode_text(&text, encoding)
}

/// The layout of a fixed-width record.
#[derive(Debug, Clone)]
pub struct FixedLayout {
    pub fields: Arc<[String]>,
    pub lengths: Vec<usize>,
    pub right_aligned: Vec<bool>,
    pub pads: Vec<char>,
    pub offsets: Arc<[usize]>,
    pub encoding: String,
}

impl FixedLayout {
    pub fn new(fields: Vec<(String, usize, bool, char)>, encoding: String) -> Self {
        let mut offsets = Vec::with_capacity(fields.len());
        let mut next = 1;
        for (_, length, _, _) in &fields {
            offsets.push(next);
            next += length;
        }
        FixedLayout {
            fields: fields.iter().map(|f| f.0.clone()).collect(),
            lengths: fields.iter().map(|f| f.1).collect(),
            right_aligned: fields.iter().map(|f| f.2).collect(),
            pads: fields.iter().map(|f| f.3).collect(),
            offsets: offsets.into(),
            encoding,
        }
    }

    pub fn record_length(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Decodes one line (without its terminator). Values are trimmed of their padding.
    pub fn decode_line(&self, line: &str, number: u64) -> Result<Record, Diagnostic> {
        let characters: Vec<char> = line.chars().collect();
        if characters.len() != self.record_length() {
            return Err(Diagnostic::error(
                ErrorCode::FixedRecordLength,
                "",
                format!("the record has {} characters, the layout {}", characters.len(), self.record_length()),
            )
            .at_text(number, 1));
        }
        let mut values = Vec::with_capacity(self.lengths.len());
        let mut start = 0;
        for (index, length) in self.lengths.iter().enumerate() {
            let raw: String = characters[start..start + length].iter().collect();
            let pad = self.pads[index];
            let value = if self.right_aligned[index] {
                raw.trim_start_matches(pad).trim_end().to_owned()
            } else {
                raw.trim_end_matches(pad).trim_end().to_owned()
            };
            values.push(value);
            start += length;
        }
        Ok(Record { fields: Arc::clone(&self.fields), values, line: number, offsets: Some(Arc::clone(&self.offsets)) })
    }

    /// Decodes a file: one record per non-empty line.
    pub fn decode(&self, bytes: &[u8], max_bytes: u64) -> Result<(Vec<Record>, Vec<Diagnostic>), Diagnostic> {
        if bytes.len() as u64 > max_bytes {
            return Err(Diagnostic::error(
                ErrorCode::InputTooLarge,
                "",
                format!("the input is larger than the limit of {max_bytes} bytes"),
            ));
        }
        let text = decode_text(bytes, &self.encoding)?;
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match self.decode_line(line.trim_end_matches('\r'), index as u64 + 1) {
                Ok(record) => records.push(record),
                Err(problem) => problems.push(problem),
            }
        }
        if records.is_empty() && problems.is_empty() {
            return Err(Diagnostic::error(ErrorCode::InputEmpty, "", "the input is empty"));
        }
        Ok((records, problems))
    }

    /// Encodes one record; a value longer than its field is a diagnostic naming the field.
    pub fn encode_line(&self, values: &[String]) -> Result<String, Diagnostic> {
        let mut line = String::with_capacity(self.record_length());
        for (index, length) in self.lengths.iter().enumerate() {
            let value = values.get(index).map_or("", String::as_str);
            let count = value.chars().count();
            if count > *length {
                return Err(Diagnostic::error(
                    ErrorCode::FixedFieldOverflow,
                    self.fields[index].clone(),
                    format!("the value has {count} characters, the field {length}"),
                ));
            }
            let padding: String = std::iter::repeat_n(self.pads[index], length - count).collect();
            if self.right_aligned[index] {
                line.push_str(&padding);
                line.push_str(value);
            } else {
                line.push_str(value);
                line.push_str(&padding);
            }
        }
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Arc<[String]> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn csv_with_windows_1252_quotes_and_bad_lines() {
        let cols = columns(&["NOME", "CITTA"]);
        let bytes = b"NOME;CITTA\r\nAndrea;\"Forl\xec; centro\"\r\nsolo\r\n\r\nLuca;Como\r\n";
        let (records, problems) = decode_csv(bytes, ';', "windows-1252", &cols, 1 << 20).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].values, vec!["Andrea", "Forl\u{ec}; centro"]);
        assert_eq!((records[1].line, records[1].value(1)), (5, Some("Como")));
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].code, problems[0].line), (ErrorCode::CsvMalformed, Some(3)));
        let encoded = encode_csv(&[records[0].values.clone()], ';', "windows-1252", &cols).unwrap();
        assert_eq!(encoded, b"NOME;CITTA\r\nAndrea;\"Forl\xec; centro\"\r\n");
    }

    #[test]
    fn csv_header_must_match() {
        let cols = columns(&["A", "B"]);
        let error = decode_csv(b"A;C\n1;2\n", ';', "utf-8", &cols, 1 << 20).unwrap_err();
        assert_eq!((error.code, error.line), (ErrorCode::CsvMalformed, Some(1)));
    }

    #[test]
    fn unencodable_characters_are_refused() {
        assert_eq!(encode_text("Łukasz", "windows-1252").unwrap_err().code, ErrorCode::UnencodableCharacter);
        assert_eq!(encode_text("Niccolò", "windows-1252").unwrap(), b"Niccol\xf2");
    }

    #[test]
    fn fixed_width_round_trip_and_errors() {
        let layout = FixedLayout::new(
            vec![("TIPO".into(), 2, false, ' '), ("CF".into(), 16, false, ' '), ("ORE".into(), 4, true, '0')],
            "utf-8".into(),
        );
        let line = layout.encode_line(&["AS".into(), "RSSMRA80A01H501U".into(), "25".into()]).unwrap();
        assert_eq!(line, "ASRSSMRA80A01H501U0025");
        let record = layout.decode_line(&line, 7).unwrap();
        assert_eq!(record.values, vec!["AS", "RSSMRA80A01H501U", "25"]);
        let problem = record.locate(2, ErrorCode::ValueUnparsable, "x");
        assert_eq!((problem.path.as_str(), problem.line, problem.column), ("ORE", Some(7), Some(19)));
        assert_eq!(layout.decode_line("short", 3).unwrap_err().code, ErrorCode::FixedRecordLength);
        assert_eq!(
            layout.encode_line(&["ASX".into(), String::new(), String::new()]).unwrap_err().code,
            ErrorCode::FixedFieldOverflow
        );
    }
}
