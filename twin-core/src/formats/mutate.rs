//! Mutated real files for the parsers' property tests: a real file with a few edits of the
//! kinds that break files in the field (a line lost or doubled, a number replaced by text, NaN,
//! a huge or negative value, stray bytes), so each parser is shown to give a clean error or a
//! valid result, never a panic or a NaN. Public under the `fuzz` feature, for the fuzz
//! harnesses of every crate's tests (`tests/fuzz.rs`).

use proptest::prelude::*;

/// One edit of a file's text.
#[derive(Debug, Clone)]
pub enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replace the k-th whitespace-separated token with this text.
    ReplaceToken(usize, String),
    /// Insert text at a byte position (moved to a char boundary).
    Insert(usize, String),
    Truncate(usize),
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("NaN".to_string()),
        Just("Inf".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e400".to_string()),
        Just("1e-300".to_string()),
        Just("x".to_string()),
        Just(";".to_string()),
        Just("]".to_string()),
        Just("\u{a0}".to_string()),
        Just("\u{feff}".to_string()),
        (-1e6f64..1e6).prop_map(|x| format!("{x}")),
        "[ -~]{0,12}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), token()).prop_map(|(k, t)| Edit::ReplaceToken(k, t)),
        (any::<usize>(), token()).prop_map(|(k, t)| Edit::Insert(k, t)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// The proptest settings of a fuzz harness: `default` cases, or `FUZZ_CASES` from the
/// environment (the million-input runs recorded in docs/reliability.md).
pub fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One to four edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..5)
}

/// `text` with `edits` applied.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_string();
    for e in edits {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let n = lines.len().max(1);
        match e {
            Edit::DeleteLine(k) if !lines.is_empty() => {
                lines.remove(k % n);
            }
            Edit::DuplicateLine(k) if !lines.is_empty() => {
                let line = lines[k % n].clone();
                lines.insert(k % n, line);
            }
            Edit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Edit::ReplaceToken(k, t) => {
                let count = text.split_ascii_whitespace().count().max(1);
                let target = k % count;
                let mut seen = 0;
                let mut out = String::with_capacity(text.len());
                let mut rest = text.as_str();
                while let Some(start) = rest.find(|c: char| !c.is_ascii_whitespace()) {
                    out.push_str(&rest[..start]);
                    let after = &rest[start..];
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    out.push_str(if seen == target { t } else { &after[..end] });
                    seen += 1;
                    rest = &after[end..];
                }
                out.push_str(rest);
                text = out;
                continue;
            }
            Edit::Insert(at, t) => {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, t);
                continue;
            }
            Edit::Truncate(at) => {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
                continue;
            }
            _ => {}
        }
        text = lines.join("\n");
        text.push('\n');
    }
    text
}
