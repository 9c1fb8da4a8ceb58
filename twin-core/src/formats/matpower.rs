//! MATPOWER case files (format version 2): `baseMVA` and the `bus`, `gen` and `branch`
//! matrices, as used for the city's 20 kV distribution network.
//!
//! The reader understands the data part of a case file; MATLAB statements after the matrices
//! (unit conversions some published cases append) are not evaluated and are listed in
//! [`MatpowerCase::unevaluated`] so a caller can refuse or handle them. Every `mpc.` field is
//! in one of the lists of [`FIELDS`] (MATPOWER User's Manual 7.1, appendix B, and the fields
//! of MATPOWER's own case library); cell arrays (`mpc.bus_name = { 'A'; 'B'; };`) are read,
//! with quotes, `''` escapes and separators inside quotes honoured. Columns beyond the ones a
//! load flow reads (OPF results such as `PF`, `LAM_P`, `MU_*`) are harmless.

use std::fmt::Write as _;

use super::{FormatKeys, LineError};

/// The `mpc.` fields of a case file and what the reader does with each.
pub const FIELDS: FormatKeys = FormatKeys {
    modelled: &["version", "baseMVA", "bus", "gen", "branch", "bus_name"],
    harmless: &[
        // Optimal power flow data: costs and user constraints, unused by a load flow.
        "gencost",
        "A",
        "l",
        "u",
        "N",
        "fparm",
        "H",
        "Cw",
        "z0",
        "zl",
        "zu",
        // Labels and legacy area data.
        "areas",
        "gentype",
        "genfuel",
        "branch_name",
        "gen_name",
    ],
    not_modelled: &[
        (
            "dcline",
            "HVDC lines carry power between buses that this load flow would not move",
        ),
        (
            "reserves",
            "reserve requirements belong to an optimal power flow",
        ),
        (
            "if",
            "interface flow limits belong to an optimal power flow",
        ),
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusType {
    Pq = 1,
    Pv = 2,
    Ref = 3,
    Isolated = 4,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub id: u32,
    pub bus_type: BusType,
    /// Active and reactive demand in MW and MVAr.
    pub pd_mw: f64,
    pub qd_mvar: f64,
    pub gs_mw: f64,
    pub bs_mvar: f64,
    pub area: u32,
    pub vm_pu: f64,
    pub va_deg: f64,
    pub base_kv: f64,
    pub zone: u32,
    pub vmax_pu: f64,
    pub vmin_pu: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gen {
    pub bus: u32,
    pub pg_mw: f64,
    pub qg_mvar: f64,
    pub qmax_mvar: f64,
    pub qmin_mvar: f64,
    pub vg_pu: f64,
    pub mbase_mva: f64,
    pub in_service: bool,
    pub pmax_mw: f64,
    pub pmin_mw: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub from: u32,
    pub to: u32,
    /// Resistance, reactance and total line charging susceptance in per unit.
    pub r_pu: f64,
    pub x_pu: f64,
    pub b_pu: f64,
    /// Long-term rating in MVA (0 = unlimited).
    pub rate_a_mva: f64,
    /// Off-nominal tap ratio (0 for a line).
    pub ratio: f64,
    pub shift_deg: f64,
    pub in_service: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatpowerCase {
    pub name: String,
    pub base_mva: f64,
    pub bus: Vec<Bus>,
    pub generators: Vec<Gen>,
    pub branch: Vec<Branch>,
    /// `mpc.bus_name`, one per bus row, when the case names its buses (else empty).
    pub bus_names: Vec<String>,
    /// Statements after the data that the reader did not evaluate, with their line.
    pub unevaluated: Vec<(usize, String)>,
}

/// Read the cells of a MATLAB cell array from one line: quoted strings (with `''` for a
/// quote) and bare tokens, separated by `;`, `,` or blanks; a `%` outside quotes starts a
/// comment. Returns whether the line closes the array (`}`).
fn scan_cells(line: &str, line_no: usize, cells: &mut Vec<String>) -> Result<bool, LineError> {
    let mut chars = line.chars().peekable();
    let mut bare = String::new();
    let flush = |bare: &mut String, cells: &mut Vec<String>| {
        if !bare.is_empty() {
            cells.push(std::mem::take(bare));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                flush(&mut bare, cells);
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(ch) => text.push(ch),
                        None => {
                            return Err(LineError::new(
                                line_no,
                                "a quoted cell is not closed on its line",
                            ));
                        }
                    }
                }
                cells.push(text);
            }
            '%' => break,
            '}' => {
                flush(&mut bare, cells);
                return Ok(true);
            }
            ';' | ',' => flush(&mut bare, cells),
            c if c.is_ascii_whitespace() => flush(&mut bare, cells),
            c => bare.push(c),
        }
    }
    flush(&mut bare, cells);
    Ok(false)
}

/// One matrix row with the line it started on.
struct Row {
    line: usize,
    values: Vec<f64>,
}

/// What a trailing MATLAB statement of a published case file means, where it is one of the
/// idioms MATPOWER's own distribution cases use (case33bw, case69, …).
enum Statement {
    /// Index-name definitions (`[PQ, PV, …] = idx_bus;`), and their continuation lines.
    IndexNames,
    /// `Vbase = mpc.bus(1, BASE_KV) * 1e3;` or `Sbase = mpc.baseMVA * 1e6;`.
    BaseDefinition,
    /// `mpc.branch(:, [BR_R BR_X]) = mpc.branch(:, [BR_R BR_X]) / (Vbase^2 / Sbase);`
    BranchOhmsToPerUnit,
    /// `mpc.bus(:, [PD, QD]) = mpc.bus(:, [PD, QD]) / 1e3;`
    LoadsKwToMw,
}

fn classify(statement: &str, continuing: bool) -> Option<Statement> {
    let compact: String = statement
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let opens_index_list = compact.starts_with('[') && compact.ends_with("...");
    if continuing
        || opens_index_list
        || compact.ends_with("=idx_bus;")
        || compact.ends_with("=idx_brch;")
        || compact.ends_with("=idx_gen;")
    {
        return Some(Statement::IndexNames);
    }
    match compact.as_str() {
        "Vbase=mpc.bus(1,BASE_KV)*1e3;" | "Sbase=mpc.baseMVA*1e6;" => {
            Some(Statement::BaseDefinition)
        }
        "mpc.branch(:,[BR_RBR_X])=mpc.branch(:,[BR_RBR_X])/(Vbase^2/Sbase);" => {
            Some(Statement::BranchOhmsToPerUnit)
        }
        "mpc.bus(:,[PD,QD])=mpc.bus(:,[PD,QD])/1e3;" => Some(Statement::LoadsKwToMw),
        _ => None,
    }
}

impl MatpowerCase {
    /// The row (0-based, in `bus`) of each bus number: the one index from MATPOWER's bus
    /// numbers to the case's rows, which the solvers' vectors follow.
    pub fn bus_rows(&self) -> std::collections::HashMap<u32, usize> {
        self.bus
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id, i))
            .collect()
    }

    /// Apply the unit conversions that published distribution cases append after their data
    /// (branch impedances in ohms, loads in kW), removing them from [`Self::unevaluated`].
    /// Statements that are not one of those idioms stay listed.
    pub fn apply_known_conversions(&mut self) {
        let mut remaining = Vec::new();
        let mut continuing = false;
        for (line, statement) in std::mem::take(&mut self.unevaluated) {
            let kind = classify(&statement, continuing);
            continuing = statement.trim_ascii_end().ends_with("...");
            match kind {
                Some(Statement::IndexNames | Statement::BaseDefinition) => {}
                Some(Statement::BranchOhmsToPerUnit) => {
                    let v_base_kv = self.bus.first().map_or(1.0, |b| b.base_kv);
                    let z_base = v_base_kv * v_base_kv / self.base_mva;
                    for br in &mut self.branch {
                        br.r_pu /= z_base;
                        br.x_pu /= z_base;
                    }
                }
                Some(Statement::LoadsKwToMw) => {
                    for b in &mut self.bus {
                        b.pd_mw /= 1e3;
                        b.qd_mvar /= 1e3;
                    }
                }
                None => remaining.push((line, statement)),
            }
        }
        self.unevaluated = remaining;
    }

    pub fn parse(text: &str) -> Result<MatpowerCase, LineError> {
        let mut name = String::new();
        let mut base_mva = None;
        let mut matrices: Vec<(String, Vec<Row>)> = Vec::new();
        let mut unevaluated = Vec::new();
        let mut open: Option<(String, Vec<Row>)> = None;
        let mut pending = Row {
            line: 0,
            values: Vec::new(),
        };
        let mut cells: Vec<(String, Vec<String>)> = Vec::new();
        let mut open_cell: Option<(String, Vec<String>, usize)> = None;

        for (i, raw_line) in text.lines().enumerate() {
            let line_no = i + 1;
            if let Some((_, items, _)) = open_cell.as_mut() {
                if scan_cells(raw_line, line_no, items)? {
                    let (field, items, _) = open_cell.take().expect("a cell array is open");
                    cells.push((field, items));
                }
                continue;
            }
            let line = raw_line.split('%').next().unwrap_or("").trim_ascii();
            if let Some((matrix_name, rows)) = open.as_mut() {
                let (body, closes) = match line.find(']') {
                    Some(pos) => (&line[..pos], true),
                    None => (line, false),
                };
                for (k, piece) in body.split(';').enumerate() {
                    if k > 0 && !pending.values.is_empty() {
                        rows.push(std::mem::replace(
                            &mut pending,
                            Row {
                                line: line_no,
                                values: Vec::new(),
                            },
                        ));
                    }
                    for token in piece
                        .split(|c: char| c.is_ascii_whitespace() || c == ',')
                        .filter(|t| !t.is_empty())
                    {
                        let v = parse_number(token).ok_or_else(|| {
                            LineError::new(
                                line_no,
                                format!("`{token}` in mpc.{matrix_name} is not a number"),
                            )
                        })?;
                        if pending.values.is_empty() {
                            pending.line = line_no;
                        }
                        pending.values.push(v);
                    }
                }
                // A newline also ends a row in MATLAB matrix syntax.
                if !pending.values.is_empty() {
                    rows.push(std::mem::replace(
                        &mut pending,
                        Row {
                            line: line_no,
                            values: Vec::new(),
                        },
                    ));
                }
                if closes {
                    matrices.push(open.take().expect("a matrix is open"));
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("function") {
                if let Some((_, n)) = rest.split_once('=') {
                    name = n.trim_ascii().trim_end_matches(';').to_string();
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("mpc.") {
                let Some((field, value)) = rest.split_once('=') else {
                    unevaluated.push((line_no, line.to_string()));
                    continue;
                };
                let field = field.trim_ascii();
                let value = value.trim_ascii();
                if field.contains('(') {
                    // An indexed assignment: a MATLAB statement, not data.
                    unevaluated.push((line_no, line.to_string()));
                    continue;
                }
                if let Some(mut refused) = FIELDS.refusal(field, line_no, "MATPOWER") {
                    refused.message = format!("mpc.{}", refused.message);
                    return Err(refused);
                }
                if let Some(after) = raw_line
                    .split_once('=')
                    .map(|(_, v)| v.trim_ascii())
                    .and_then(|v| v.strip_prefix('{'))
                {
                    let mut items = Vec::new();
                    if scan_cells(after, line_no, &mut items)? {
                        cells.push((field.to_string(), items));
                    } else {
                        open_cell = Some((field.to_string(), items, line_no));
                    }
                    continue;
                }
                if field == "baseMVA" {
                    let v = value.trim_end_matches(';').trim_ascii();
                    base_mva = Some(parse_number(v).ok_or_else(|| {
                        LineError::new(line_no, format!("mpc.baseMVA = `{v}` is not a number"))
                    })?);
                } else if field == "version" {
                    let v = value.trim_end_matches(';').trim_ascii().trim_matches('\'');
                    if v != "2" {
                        return Err(LineError::new(
                            line_no,
                            format!("MATPOWER case version `{v}` (only version 2 is read)"),
                        ));
                    }
                } else if let Some(after) = value.strip_prefix('[') {
                    let mut rows = Vec::new();
                    let (body, closes) = match after.find(']') {
                        Some(pos) => (&after[..pos], true),
                        None => (after, false),
                    };
                    for piece in body.split(';') {
                        let values: Result<Vec<f64>, LineError> = piece
                            .split(|c: char| c.is_ascii_whitespace() || c == ',')
                            .filter(|t| !t.is_empty())
                            .map(|t| {
                                parse_number(t).ok_or_else(|| {
                                    LineError::new(
                                        line_no,
                                        format!("`{t}` in mpc.{field} is not a number"),
                                    )
                                })
                            })
                            .collect();
                        let values = values?;
                        if !values.is_empty() {
                            rows.push(Row {
                                line: line_no,
                                values,
                            });
                        }
                    }
                    if closes {
                        matrices.push((field.to_string(), rows));
                    } else {
                        open = Some((field.to_string(), rows));
                    }
                } else {
                    unevaluated.push((line_no, line.to_string()));
                }
                continue;
            }
            unevaluated.push((line_no, line.to_string()));
        }
        if let Some((matrix_name, _)) = open {
            return Err(LineError::new(
                text.lines().count(),
                format!("mpc.{matrix_name} is not closed with `];`"),
            ));
        }
        if let Some((field, _, line)) = open_cell {
            return Err(LineError::new(
                line,
                format!("the cell array mpc.{field} is not closed with `}};`"),
            ));
        }
        let base_mva = base_mva.ok_or_else(|| LineError::new(1, "no mpc.baseMVA"))?;
        let take = |wanted: &str| matrices.iter().find(|(n, _)| n == wanted).map(|(_, r)| r);
        let bus_rows = take("bus").ok_or_else(|| LineError::new(1, "no mpc.bus matrix"))?;
        let gen_rows = take("gen").ok_or_else(|| LineError::new(1, "no mpc.gen matrix"))?;
        let branch_rows =
            take("branch").ok_or_else(|| LineError::new(1, "no mpc.branch matrix"))?;

        let bus = bus_rows
            .iter()
            .map(parse_bus)
            .collect::<Result<Vec<_>, _>>()?;
        let generators = gen_rows
            .iter()
            .map(parse_gen)
            .collect::<Result<Vec<_>, _>>()?;
        let branch = branch_rows
            .iter()
            .map(parse_branch)
            .collect::<Result<Vec<_>, _>>()?;
        let bus_names = match cells.iter().find(|(f, _)| f == "bus_name") {
            None => Vec::new(),
            Some((_, names)) if names.len() == bus.len() => names.clone(),
            Some((_, names)) => {
                return Err(LineError::new(
                    1,
                    format!(
                        "mpc.bus_name has {} names for {} buses",
                        names.len(),
                        bus.len()
                    ),
                ));
            }
        };
        let case = MatpowerCase {
            name,
            base_mva,
            bus,
            generators,
            branch,
            bus_names,
            unevaluated,
        };
        case.check_references()?;
        Ok(case)
    }

    fn check_references(&self) -> Result<(), LineError> {
        let known: std::collections::HashSet<u32> = self.bus.iter().map(|b| b.id).collect();
        if known.len() != self.bus.len() {
            return Err(LineError::new(0, "bus numbers are not unique"));
        }
        for (k, g) in self.generators.iter().enumerate() {
            if !known.contains(&g.bus) {
                return Err(LineError::new(
                    0,
                    format!("gen row {} names unknown bus {}", k + 1, g.bus),
                ));
            }
        }
        for (k, br) in self.branch.iter().enumerate() {
            for end in [br.from, br.to] {
                if !known.contains(&end) {
                    return Err(LineError::new(
                        0,
                        format!("branch row {} names unknown bus {end}", k + 1),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Write the case as a MATPOWER version 2 file.
    pub fn to_matpower_string(&self, header: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "function mpc = {}", self.name);
        for line in header.lines() {
            let _ = writeln!(
                out,
                "%{}",
                if line.is_empty() {
                    String::new()
                } else {
                    format!(" {line}")
                }
            );
        }
        let _ = writeln!(
            out,
            "\n%% MATPOWER Case Format : Version 2\nmpc.version = '2';\n"
        );
        let _ = writeln!(
            out,
            "%% system MVA base\nmpc.baseMVA = {};\n",
            fmt_num(self.base_mva)
        );
        let _ = writeln!(
            out,
            "%% bus data\n%\tbus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin\nmpc.bus = ["
        );
        for b in &self.bus {
            let _ = writeln!(
                out,
                "\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{};",
                b.id,
                b.bus_type as u8,
                fmt_num(b.pd_mw),
                fmt_num(b.qd_mvar),
                fmt_num(b.gs_mw),
                fmt_num(b.bs_mvar),
                b.area,
                fmt_num(b.vm_pu),
                fmt_num(b.va_deg),
                fmt_num(b.base_kv),
                b.zone,
                fmt_num(b.vmax_pu),
                fmt_num(b.vmin_pu)
            );
        }
        let _ = writeln!(
            out,
            "];\n\n%% generator data\n%\tbus\tPg\tQg\tQmax\tQmin\tVg\tmBase\tstatus\tPmax\tPmin\nmpc.gen = ["
        );
        for g in &self.generators {
            let _ = writeln!(
                out,
                "\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{};",
                g.bus,
                fmt_num(g.pg_mw),
                fmt_num(g.qg_mvar),
                fmt_num(g.qmax_mvar),
                fmt_num(g.qmin_mvar),
                fmt_num(g.vg_pu),
                fmt_num(g.mbase_mva),
                u8::from(g.in_service),
                fmt_num(g.pmax_mw),
                fmt_num(g.pmin_mw)
            );
        }
        let _ = writeln!(
            out,
            "];\n\n%% branch data\n%\tfbus\ttbus\tr\tx\tb\trateA\trateB\trateC\tratio\tangle\tstatus\tangmin\tangmax\nmpc.branch = ["
        );
        for br in &self.branch {
            let _ = writeln!(
                out,
                "\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t-360\t360;",
                br.from,
                br.to,
                fmt_num(br.r_pu),
                fmt_num(br.x_pu),
                fmt_num(br.b_pu),
                fmt_num(br.rate_a_mva),
                fmt_num(br.rate_a_mva),
                fmt_num(br.rate_a_mva),
                fmt_num(br.ratio),
                fmt_num(br.shift_deg),
                u8::from(br.in_service)
            );
        }
        let _ = writeln!(out, "];");
        out
    }
}

/// A number with at most 8 significant decimals, trailing zeros removed, so files are stable.
fn fmt_num(x: f64) -> String {
    let s = format!("{x:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A number as MATLAB writes it: finite, or `Inf`/`-Inf` written out (generator limits use
/// them). A literal that overflows (`1e400`) or `NaN` is not a number here.
fn parse_number(token: &str) -> Option<f64> {
    match token {
        "Inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => token.parse::<f64>().ok().filter(|x| x.is_finite()),
    }
}

/// Refuse an infinite value in a column where it has no meaning (everything but limits).
fn finite(row: &Row, col: usize, what: &str) -> Result<f64, LineError> {
    let v = row.values[col];
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LineError::new(
            row.line,
            format!("{what} column {} = {v} must be finite", col + 1),
        ))
    }
}

fn need(row: &Row, n: usize, what: &str) -> Result<(), LineError> {
    if row.values.len() < n {
        return Err(LineError::new(
            row.line,
            format!(
                "{what} row has {} columns, at least {n} expected",
                row.values.len()
            ),
        ));
    }
    Ok(())
}

fn as_u32(row: &Row, col: usize, what: &str) -> Result<u32, LineError> {
    let v = row.values[col];
    if v.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&v) {
        return Err(LineError::new(
            row.line,
            format!("{what} column {} = {v} is not a whole number", col + 1),
        ));
    }
    Ok(v as u32)
}

fn parse_bus(row: &Row) -> Result<Bus, LineError> {
    need(row, 13, "bus")?;
    let v = &row.values;
    let bus_type = match as_u32(row, 1, "bus")? {
        1 => BusType::Pq,
        2 => BusType::Pv,
        3 => BusType::Ref,
        4 => BusType::Isolated,
        t => {
            return Err(LineError::new(
                row.line,
                format!("bus type {t} (expected 1 to 4)"),
            ));
        }
    };
    Ok(Bus {
        id: as_u32(row, 0, "bus")?,
        bus_type,
        pd_mw: finite(row, 2, "bus")?,
        qd_mvar: finite(row, 3, "bus")?,
        gs_mw: finite(row, 4, "bus")?,
        bs_mvar: finite(row, 5, "bus")?,
        area: as_u32(row, 6, "bus")?,
        vm_pu: finite(row, 7, "bus")?,
        va_deg: finite(row, 8, "bus")?,
        base_kv: finite(row, 9, "bus")?,
        zone: as_u32(row, 10, "bus")?,
        vmax_pu: v[11],
        vmin_pu: v[12],
    })
}

fn parse_gen(row: &Row) -> Result<Gen, LineError> {
    need(row, 10, "gen")?;
    let v = &row.values;
    Ok(Gen {
        bus: as_u32(row, 0, "gen")?,
        pg_mw: finite(row, 1, "gen")?,
        qg_mvar: finite(row, 2, "gen")?,
        qmax_mvar: v[3],
        qmin_mvar: v[4],
        vg_pu: finite(row, 5, "gen")?,
        mbase_mva: v[6],
        in_service: v[7] > 0.0,
        pmax_mw: v[8],
        pmin_mw: v[9],
    })
}

fn parse_branch(row: &Row) -> Result<Branch, LineError> {
    need(row, 11, "branch")?;
    let v = &row.values;
    Ok(Branch {
        from: as_u32(row, 0, "branch")?,
        to: as_u32(row, 1, "branch")?,
        r_pu: finite(row, 2, "branch")?,
        x_pu: finite(row, 3, "branch")?,
        b_pu: finite(row, 4, "branch")?,
        rate_a_mva: finite(row, 5, "branch")?,
        ratio: finite(row, 8, "branch")?,
        shift_deg: finite(row, 9, "branch")?,
        in_service: v[10] > 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "function mpc = tiny\nmpc.version = '2';\nmpc.baseMVA = 10;\nmpc.bus = [\n\t1 3 0 0 0 0 1 1 0 20 1 1.1 0.9;\n\t2 1 0.5 0.1 0 0 1 1 0 20 1 1.1 0.9;\n];\nmpc.gen = [ 1 0 0 10 -10 1 10 1 10 0 ];\nmpc.branch = [\n\t1 2 0.01 0.02 0 5 5 5 0 0 1 -360 360;\n];\n";

    #[test]
    fn reads_and_writes_back() {
        let case = MatpowerCase::parse(TINY).unwrap();
        assert_eq!(case.bus.len(), 2);
        assert_eq!(case.generators.len(), 1);
        assert_eq!(case.branch[0].x_pu, 0.02);
        let again = MatpowerCase::parse(&case.to_matpower_string("round trip")).unwrap();
        assert_eq!(again.bus, case.bus);
        assert_eq!(again.branch, case.branch);
    }

    #[test]
    fn every_documented_field_is_in_a_list() {
        // MATPOWER User's Manual 7.1, appendix B (case format and OPF extensions), and the
        // fields of MATPOWER's case library.
        for field in [
            "version", "baseMVA", "bus", "gen", "branch", "gencost", "areas", "bus_name",
            "gentype", "genfuel", "dcline", "A", "l", "u", "N", "fparm", "H", "Cw", "z0", "zl",
            "zu", "reserves", "if",
        ] {
            assert_ne!(
                FIELDS.classify(field),
                super::super::KeyUse::Unknown,
                "{field}"
            );
        }
    }

    #[test]
    fn cell_arrays_are_read_and_unknown_fields_refused_by_line() {
        let named = format!(
            "{TINY}mpc.gencost = [\n\t2 0 0 3 0 20 0;\n];\nmpc.bus_name = {{\n\t'SUBST; 20kV % main';\n\t'it''s B';\n}};\nmpc.gentype = {{'ST'}};\n"
        );
        let case = MatpowerCase::parse(&named).unwrap();
        assert_eq!(case.bus_names, ["SUBST; 20kV % main", "it's B"]);
        assert!(case.unevaluated.is_empty(), "{:?}", case.unevaluated);
        let err = MatpowerCase::parse(&format!("{TINY}mpc.dcline = [\n 1 2 1;\n];\n")).unwrap_err();
        assert_eq!(err.line, 12);
        assert!(err.message.contains("HVDC"), "{err}");
        let err = MatpowerCase::parse(&format!("{TINY}mpc.mystery = 3;\n")).unwrap_err();
        assert!(err.message.contains("mpc.mystery"), "{err}");
        let err = MatpowerCase::parse(&format!("{TINY}mpc.bus_name = {{ 'A';\n")).unwrap_err();
        assert!(err.message.contains("not closed"), "{err}");
        let err = MatpowerCase::parse(&format!("{TINY}mpc.bus_name = {{ 'A' }};\n")).unwrap_err();
        assert!(err.message.contains("1 names for 2 buses"), "{err}");
    }

    #[test]
    fn errors_name_the_line() {
        let bad = TINY.replace("0.5 0.1", "0.5 x");
        let err = MatpowerCase::parse(&bad).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(err.to_string().contains("`x`"));
        let unknown = TINY.replace("1 2 0.01", "1 7 0.01");
        assert!(
            MatpowerCase::parse(&unknown)
                .unwrap_err()
                .to_string()
                .contains("unknown bus 7")
        );
        let open = TINY.replace("];\nmpc.gen", "mpc.gen");
        assert!(MatpowerCase::parse(&open).is_err());
    }

    proptest::proptest! {
        #![proptest_config(crate::formats::mutate::config(300))]
        /// Mutated real cases give a clean error or a load flow whose every number is finite.
        #[test]
        fn mutated_real_cases_give_an_error_or_finite_numbers(
            which in 0usize..3,
            edits in crate::formats::mutate::edits(),
        ) {
            let real = [
                include_str!("../../../data/power/case33bw.m"),
                include_str!("../../../data/field/matpower-pv-and-pq-generators.m"),
                include_str!("../../../data/field/matpower-cell-arrays-bus-names.m"),
            ][which];
            let text = crate::formats::mutate::apply(real, &edits);
            let Ok(mut case) = MatpowerCase::parse(&text) else { return Ok(()) };
            case.apply_known_conversions();
            if let Ok(r) = crate::power::solve_load_flow(&case, None, 1.0) {
                proptest::prop_assert!(r.vm_pu.iter().chain(&r.va_deg).all(|x| x.is_finite()));
                proptest::prop_assert!(r.p_loss_kw.is_finite() && r.slack_p_kw.is_finite());
                for b in &r.branches {
                    proptest::prop_assert!(b.p_from_kw.is_finite() && b.p_loss_kw.is_finite(), "{b:?}");
                }
            }
        }
    }
}
