//! Small CSV tables with a required header: the events file of `twin outage --events` and the
//! valve layer of a city bundle. Read with the `csv` crate (RFC 4180 quoting, fields trimmed,
//! blank lines and lines starting with `#` skipped).
//!
//! The header rule: the first line that is not blank or a comment names the columns, in any
//! order; every expected column must be there and no other. A file whose first line is a data
//! row is refused at that line rather than read without its first row.

use super::LineError;

/// One data row: its line in the file (1-based) and its fields in the order the caller
/// expected the columns, whatever their order in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Read `text` as a CSV table with the columns `expected` (see the module's header rule).
///
/// Errors: a missing or wrong header (line of the first non-comment line), a row with another
/// number of fields than the header, or CSV that does not parse (its line).
pub fn read_table(text: &str, expected: &[&str]) -> Result<Vec<TableRow>, LineError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    // The csv crate's positions point where it began reading a record, before the blank
    // and comment lines it skipped: the record's own line is the next line that is neither.
    let lines: Vec<&str> = text.split('\n').collect();
    let newlines: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(at, _)| at)
        .collect();
    let line_at = |p: Option<&csv::Position>| {
        let mut at = p.map_or(0, |p| newlines.partition_point(|&n| n < p.byte() as usize));
        while lines
            .get(at)
            .is_some_and(|l| l.trim_end_matches('\r').is_empty() || l.starts_with('#'))
        {
            at += 1;
        }
        at + 1
    };
    let line_of = |r: &csv::StringRecord| line_at(r.position());
    let bad = |e: csv::Error| LineError::new(line_at(e.position()), e.to_string());
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => return Ok(Vec::new()),
            Some(record) => {
                let record = record.map_err(bad)?;
                if record.iter().any(|f| !f.is_empty()) {
                    break record;
                }
            }
        }
    };
    let header_line = line_of(&header);
    let wanted = expected.join(",");
    let mut order = Vec::with_capacity(expected.len());
    for column in expected {
        match header.iter().position(|h| h.eq_ignore_ascii_case(column)) {
            Some(at) => order.push(at),
            None => {
                let first: Vec<&str> = header.iter().collect();
                return Err(LineError::new(
                    header_line,
                    format!(
                        "the first line must be the header `{wanted}`, found `{}` (no column `{column}`); \
                         a file without its header would lose its first row",
                        first.join(",")
                    ),
                ));
            }
        }
    }
    if header.len() != expected.len() {
        let extra: Vec<&str> = header
            .iter()
            .filter(|h| !expected.iter().any(|c| c.eq_ignore_ascii_case(h)))
            .collect();
        return Err(LineError::new(
            header_line,
            format!(
                "the header has columns this file does not define: `{}` (expected `{wanted}`)",
                extra.join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(bad)?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = line_of(&record);
        if record.len() != expected.len() {
            return Err(LineError::new(
                line,
                format!(
                    "{} fields where the header `{wanted}` has {}",
                    record.len(),
                    expected.len()
                ),
            ));
        }
        rows.push(TableRow {
            line,
            fields: order.iter().map(|&at| record[at].to_string()).collect(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [&str; 3] = ["fail", "repair_h", "switching_min"];

    #[test]
    fn rows_keep_their_lines_and_come_in_the_expected_order() {
        let text =
            "# a comment\n\nrepair_h, fail ,switching_min\n4,\"P.L1 P.L2\",30\n\n# x\n2,P.L3,0\n";
        let rows = read_table(text, &COLUMNS).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 4);
        assert_eq!(rows[0].fields, ["P.L1 P.L2", "4", "30"]);
        assert_eq!(rows[1].line, 7);
        assert_eq!(rows[1].fields, ["P.L3", "2", "0"]);
    }

    #[test]
    fn a_file_without_its_header_is_refused_at_its_first_row() {
        let err = read_table("\n# events\nP.L1,4,30\nP.L2,1,0\n", &COLUMNS).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.message.contains("header `fail,repair_h,switching_min`"),
            "{err}"
        );
        assert!(err.message.contains("lose its first row"), "{err}");
    }

    #[test]
    fn extra_columns_and_short_rows_are_refused() {
        let err = read_table("fail,repair_h,switching_min,cost\n", &COLUMNS).unwrap_err();
        assert!(err.message.contains("`cost`"), "{err}");
        let err = read_table("fail,repair_h,switching_min\nP.L1,4\n", &COLUMNS).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("2 fields"), "{err}");
    }

    #[test]
    fn an_empty_file_has_no_rows() {
        assert!(read_table("# nothing\n\n", &COLUMNS).unwrap().is_empty());
    }
}
