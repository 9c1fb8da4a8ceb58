//! Text files as practitioners' tools write them: UTF-8 with or without a byte-order mark,
//! LF or CRLF line ends, and, for the formats whose writers are Windows desktop tools (EPANET,
//! MATLAB/MATPOWER, TNTP, VRPLIB), Windows-1252.
//!
//! The one way every reader of the project gets its text: [`decode_text`] for formats where a
//! legacy encoding is plausible (a file that is not UTF-8 is read as Windows-1252, per the WHATWG
//! Encoding Standard's table, with one warning naming the first such line and byte), and
//! [`decode_utf8`] for formats that are UTF-8 by definition (JSON, RFC 8259 §8.1; TOML 1.0;
//! GeoJSON), which are refused by line and byte when they are not. Lines are split by
//! [`str::lines`], which takes both LF and CRLF. Fields inside a line are split with
//! [`fields`]: ASCII whitespace only, so a no-break space inside an id stays part of the id.

use std::path::Path;

use super::LineError;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a file's bytes were turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEncoding {
    /// UTF-8 (a leading byte-order mark, if any, removed).
    Utf8 { had_bom: bool },
    /// Not UTF-8: decoded as Windows-1252; `line` (1-based) and `byte` (1-based within the
    /// line) locate the first byte that is not UTF-8.
    Windows1252 { line: usize, byte: usize },
}

/// A file's text and how it was decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedText {
    pub text: String,
    pub encoding: SourceEncoding,
}

impl DecodedText {
    /// The warning a reader prints for `file` when the text was not UTF-8, else `None`.
    pub fn warning(&self, file: &str) -> Option<String> {
        match self.encoding {
            SourceEncoding::Utf8 { .. } => None,
            SourceEncoding::Windows1252 { line, byte } => Some(format!(
                "{file}:{line}: byte {byte} of the line is not UTF-8; the file is read as Windows-1252"
            )),
        }
    }
}

/// Where (line, byte within the line, both 1-based) the first invalid UTF-8 byte of `bytes` is.
fn locate(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}

/// Text of a format where a legacy encoding is plausible: UTF-8 (byte-order mark removed), or,
/// when the bytes are not UTF-8, Windows-1252 (every byte maps to a character, so this never
/// fails).
pub fn decode_text(bytes: &[u8]) -> DecodedText {
    let (body, had_bom) = match bytes.strip_prefix(BOM) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(body) {
        Ok(text) => DecodedText {
            text: text.to_string(),
            encoding: SourceEncoding::Utf8 { had_bom },
        },
        Err(e) => {
            let (line, byte) = locate(body, e.valid_up_to());
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(body);
            DecodedText {
                text: text.into_owned(),
                encoding: SourceEncoding::Windows1252 { line, byte },
            }
        }
    }
}

/// Text of a format that is UTF-8 by definition: the byte-order mark removed; bytes that are
/// not UTF-8 are an error naming the line and the byte.
pub fn decode_utf8(bytes: &[u8]) -> Result<String, LineError> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let (line, byte) = locate(body, e.valid_up_to());
            Err(LineError::new(
                line,
                format!("byte {byte} of the line is not UTF-8 (the format is UTF-8 only)"),
            ))
        }
    }
}

/// Why a UTF-8 text file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("line {}: {}", .0.line, .0.message)]
    Encoding(LineError),
}

impl TextFileError {
    /// The line of an encoding error (0 for an I/O error).
    pub fn line(&self) -> usize {
        match self {
            TextFileError::Io(_) => 0,
            TextFileError::Encoding(e) => e.line,
        }
    }
}

/// Read a file of a format that is UTF-8 by definition ([`decode_utf8`]): the one way every
/// reader of JSON, GeoJSON, TOML and scripts gets its text.
pub fn read_utf8_file(path: &Path) -> Result<String, TextFileError> {
    decode_utf8(&std::fs::read(path)?).map_err(TextFileError::Encoding)
}

/// Read `path` with [`decode_text`].
pub fn read_text_file(path: &Path) -> std::io::Result<DecodedText> {
    Ok(decode_text(&std::fs::read(path)?))
}

/// The fields of a line separated by ASCII whitespace (space, tab, CR, LF, FF): the separators
/// of the whitespace-delimited formats. Unicode spaces such as U+00A0 stay inside a field.
pub fn fields(line: &str) -> std::str::SplitAsciiWhitespace<'_> {
    line.split_ascii_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_a_bom_reads_the_same() {
        let plain = decode_text(b"a\r\nb\n");
        let bom = decode_text(b"\xEF\xBB\xBFa\r\nb\n");
        assert_eq!(plain.text, bom.text);
        assert_eq!(bom.encoding, SourceEncoding::Utf8 { had_bom: true });
        assert_eq!(plain.text.lines().collect::<Vec<_>>(), ["a", "b"]);
        assert!(plain.warning("f").is_none());
    }

    #[test]
    fn windows_1252_is_decoded_and_the_first_bad_byte_located() {
        // "Pite\xBAti" is not UTF-8; 0xBA is º and 0x80 is € in Windows-1252.
        let d = decode_text(b"ok\nPite\xBAti \x80\n");
        assert_eq!(d.text, "ok\nPiteºti €\n");
        assert_eq!(d.encoding, SourceEncoding::Windows1252 { line: 2, byte: 5 });
        assert_eq!(
            d.warning("net.inp").as_deref(),
            Some("net.inp:2: byte 5 of the line is not UTF-8; the file is read as Windows-1252")
        );
    }

    #[test]
    fn utf8_only_formats_refuse_other_bytes_by_line() {
        assert_eq!(decode_utf8(b"\xEF\xBB\xBF{}").as_deref(), Ok("{}"));
        let err = decode_utf8(b"{\n\"a\": \"\xE9\"}").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("byte 7"), "{err}");
    }

    #[test]
    fn fields_split_on_ascii_whitespace_only() {
        let parts: Vec<&str> = fields("J\u{a0}1\t 12.5 \r").collect();
        assert_eq!(parts, ["J\u{a0}1", "12.5"]);
    }
}
