//! `twin history`: one entity's readings from a stopped twin's store, over a window, as a
//! table or CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::Args;
use twin_core::quantity::ValueSpec;

#[derive(Args)]
pub struct HistoryArgs {
    /// The entity: its id (bin:17), its name, or its model file's own id (an EPANET node).
    pub entity: String,
    /// First time of the window: RFC 3339 (2026-12-01T06:00:00Z) or a UTC date (2026-12-01,
    /// from its start). Default: the oldest kept reading.
    #[arg(long)]
    pub from: Option<String>,
    /// Last time of the window, inclusive: RFC 3339 or a UTC date (to its end). Default: the
    /// newest reading.
    #[arg(long)]
    pub to: Option<String>,
    /// Print CSV (observedAt,quantity,value,unit), one row per value, instead of a table.
    #[arg(long)]
    pub csv: bool,
    #[arg(long, default_value = "twin-data")]
    pub data_dir: PathBuf,
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    pub city: Option<PathBuf>,
}

/// Print the readings of one entity kept in the store's history. Needs the twin stopped (the
/// store is locked while it runs; its HTTP API serves the same at
/// `/api/entities/{id}/history`).
pub fn history(args: HistoryArgs) -> Result<()> {
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    let found = city.lookup(&args.entity, &[], "an entity")?;
    let [index] = found.as_slice() else {
        return Err(anyhow!(
            "`{}` names {} entities (a street's segments); give one segment's id",
            args.entity,
            found.len()
        ));
    };
    let entity = city.entities()[*index].id.clone();
    let from = parse_bound("--from", args.from.as_deref(), false)?;
    let to = parse_bound("--to", args.to.as_deref(), true)?;
    let store_dir = args.data_dir.join("store");
    if !store_dir.exists() {
        return Err(anyhow!(
            "{}: no store here (start the twin with `twin serve --data-dir {}`)",
            store_dir.display(),
            args.data_dir.display()
        ));
    }
    let store = twin_actors::store::Store::open(&store_dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut rows = 0u64;
    if args.csv {
        let mut csv = csv::Writer::from_writer(&mut out);
        csv.write_record(["observedAt", "quantity", "value", "unit"])?;
        store.history().each(&entity, from, to, |r| -> Result<()> {
            let at = twin_core::live::rfc3339(r.observed_at.timestamp_millis());
            for (q, v) in &r.values {
                csv.write_record([at.as_str(), &q.name(), &plain(v), unit_of(*q)])?;
            }
            rows += 1;
            Ok(())
        })?;
        csv.flush()?;
    } else {
        store.history().each(&entity, from, to, |r| -> Result<()> {
            let values: Vec<String> = r
                .values
                .iter()
                .map(|(q, v)| match unit_of(*q) {
                    "" => format!("{}={}", q.name(), plain(v)),
                    unit => format!("{}={} {unit}", q.name(), plain(v)),
                })
                .collect();
            let at = twin_core::live::rfc3339(r.observed_at.timestamp_millis());
            writeln!(out, "{at}  {}", values.join("  "))?;
            rows += 1;
            Ok(())
        })?;
    }
    out.flush()?;
    if rows == 0 {
        eprintln!("{entity}: no readings kept in this window");
    }
    Ok(())
}

/// A value as a cell: numbers and booleans as written, text without quotes.
fn plain(v: &twin_core::Value) -> String {
    match v {
        twin_core::Value::Text(s) => s.clone(),
        other => other.to_string(),
    }
}

fn unit_of(q: twin_core::Quantity) -> &'static str {
    match q.spec() {
        ValueSpec::Number { unit, .. } => unit,
        _ => "",
    }
}

/// A window bound in ms since the epoch: RFC 3339, or a UTC date (its start, or its last
/// millisecond when `end_of_day`); none is the open end.
fn parse_bound(flag: &str, text: Option<&str>, end_of_day: bool) -> Result<i64> {
    let Some(text) = text else {
        return Ok(if end_of_day { i64::MAX } else { i64::MIN });
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("{flag} `{text}` is neither an RFC 3339 time (2026-12-01T06:00:00Z) nor a date (2026-12-01)")
    })?;
    let start = day.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    Ok(if end_of_day {
        start + 24 * 3600 * 1000 - 1
    } else {
        start
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_hold_text_without_quotes_and_bounds_take_dates_or_times() {
        assert_eq!(plain(&twin_core::Value::Text("ok".into())), "ok");
        assert_eq!(plain(&twin_core::Value::Number(0.25)), "0.25");
        assert_eq!(plain(&twin_core::Value::Bool(true)), "true");
        let day = 1_764_547_200_000; // 2025-12-01T00:00:00Z
        assert_eq!(
            parse_bound("--from", Some("2025-12-01"), false).ok(),
            Some(day)
        );
        assert_eq!(
            parse_bound("--to", Some("2025-12-01"), true).ok(),
            Some(day + 86_400_000 - 1)
        );
        assert_eq!(
            parse_bound("--from", Some("2025-12-01T06:00:00+02:00"), false).ok(),
            Some(day + 4 * 3_600_000)
        );
        assert_eq!(parse_bound("--to", None, true).ok(), Some(i64::MAX));
        assert!(parse_bound("--from", Some("yesterday"), false).is_err());
    }
}
