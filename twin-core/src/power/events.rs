//! A year of power outage events: the events file (`fail,repair_h,switching_min`) and the
//! study that sums them into SAIFI, SAIDI, CAIDI and ENS (IEEE 1366-2012).
//!
//! The file is CSV whose first line (after blank lines and `#` comments) is the header
//! `fail,repair_h,switching_min` (columns in any order; [`crate::formats::table`]'s header
//! rule): the failed power elements of an event (ids or names, as `twin find` shows them;
//! several separated by `;`, or ids by spaces), the hours to repair them
//! and the minutes to find the fault and switch the restorable part back. A file without the
//! header is refused at its first line rather than read without its first event. Every error
//! names the file and line. `data/pitesti/outage_events.csv` is a sample.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::CityModel;
use crate::id::EntityId;
use crate::power::outage::{
    FAILABLE_POWER, OutageError, RestorationLimits, analyse_power_outage, customers_served,
};
use crate::power::reliability::{
    Interruption, ReliabilityIndices, SUSTAINED_THRESHOLD_MIN, reliability_indices,
};

/// The columns of an events file, named by its header line.
pub const EVENT_COLUMNS: [&str; 3] = ["fail", "repair_h", "switching_min"];

/// One line of an events file.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageEvent {
    /// The line of the file it came from (1-based).
    pub line: usize,
    /// The power elements that fail together, as written: ids or names (resolved on the
    /// city by [`study_outage_events`]).
    pub failed: Vec<String>,
    /// Minutes until the failed elements are repaired.
    pub repair_min: f64,
    /// Minutes to find the fault and switch the restorable part back.
    pub switching_min: f64,
}

/// An events file that cannot be read or studied; `path:line: why`.
#[derive(Debug, Error)]
pub enum OutageEventsError {
    #[error("{}: {why}", path.display())]
    Io { path: PathBuf, why: String },
    #[error("{}:{line}: {why}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("{}: no events", path.display())]
    Empty { path: PathBuf },
    #[error("{}:{line}: {source}", path.display())]
    Outage {
        path: PathBuf,
        line: usize,
        source: OutageError,
    },
}

/// Read an events file. Errors name the file and line.
pub fn read_outage_events(path: &Path) -> Result<Vec<OutageEvent>, OutageEventsError> {
    let text = crate::formats::text::read_utf8_file(path).map_err(|e| OutageEventsError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    parse_outage_events(&text, path)
}

/// Parse the text of an events file; `path` only names it in errors.
pub fn parse_outage_events(text: &str, path: &Path) -> Result<Vec<OutageEvent>, OutageEventsError> {
    let rows = crate::formats::table::read_table(text, &EVENT_COLUMNS).map_err(|e| {
        OutageEventsError::Line {
            path: path.to_path_buf(),
            line: e.line,
            why: e.message,
        }
    })?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let at = |why: String| OutageEventsError::Line {
            path: path.to_path_buf(),
            line: row.line,
            why,
        };
        let f = &row.fields;
        let failed: Vec<String> = f[0]
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if failed.is_empty() {
            return Err(at("an event fails one or more power elements".into()));
        }
        let number = |s: &str, what: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| at(format!("{what} `{s}` is not a non-negative number")))
        };
        events.push(OutageEvent {
            line: row.line,
            failed,
            repair_min: number(&f[1], "repair_h")? * 60.0,
            switching_min: number(&f[2], "switching_min")?,
        });
    }
    if events.is_empty() {
        return Err(OutageEventsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(events)
}

/// The ids of an event's failed elements, each written as an id or a name; an entry that is
/// neither but holds spaces is read as ids separated by spaces (the file's first form).
fn resolve_failed(city: &CityModel, written: &[String]) -> Result<Vec<EntityId>, String> {
    let what = "a power element";
    let mut out = Vec::new();
    for text in written {
        match city.lookup_ids(text, &FAILABLE_POWER, what) {
            Ok(found) => out.extend(found),
            Err(whole) => {
                let parts: Result<Vec<_>, _> = text
                    .split_ascii_whitespace()
                    .map(|p| city.lookup_ids(p, &FAILABLE_POWER, what))
                    .collect();
                match parts {
                    Ok(found) if text.contains(' ') => out.extend(found.into_iter().flatten()),
                    _ => return Err(whole.to_string()),
                }
            }
        }
    }
    Ok(out)
}

/// What one event of a study did.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    pub failed: Vec<EntityId>,
    /// Customers who lost supply at all, however briefly.
    pub customers_interrupted: u32,
    /// Of them, those out longer than the sustained threshold: this event's part of SAIFI's
    /// numerator.
    pub customers_sustained: u32,
    /// Of them, those switched back within the threshold: momentary, counted in MAIFI only.
    pub customers_momentary: u32,
    /// Customers still without supply after switching, until the repair.
    pub customers_not_restored: u32,
    /// Customer-minutes of this event's sustained interruptions (its part of SAIDI's
    /// numerator).
    pub customer_minutes: f64,
    /// Energy not supplied by this event, kWh.
    pub ens_kwh: f64,
}

/// The indices over every event of a file, and each event's part.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageEventsStudy {
    pub events: Vec<EventOutcome>,
    /// SAIFI, SAIDI, CAIDI and ENS over all events, with the sustained threshold of
    /// [`SUSTAINED_THRESHOLD_MIN`].
    pub indices: ReliabilityIndices,
    pub customers_served: u32,
}

/// Analyse every event on the city's grid (each on its own, from the normal state) at
/// `load_factor` × peak load, and sum their interruptions into the year's indices.
/// `path` names the events file in errors.
pub fn study_outage_events(
    city: &CityModel,
    events: &[OutageEvent],
    load_factor: f64,
    path: &Path,
) -> Result<OutageEventsStudy, OutageEventsError> {
    let served = customers_served(city);
    let mut all: Vec<Interruption> = Vec::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for e in events {
        let failed = resolve_failed(city, &e.failed).map_err(|why| OutageEventsError::Line {
            path: path.to_path_buf(),
            line: e.line,
            why,
        })?;
        let o = analyse_power_outage(city, &failed, &RestorationLimits::default(), load_factor)
            .map_err(|source| OutageEventsError::Outage {
                path: path.to_path_buf(),
                line: e.line,
                source,
            })?;
        let interruptions = o.interruptions(e.switching_min, e.repair_min);
        let one = reliability_indices(&interruptions, served, SUSTAINED_THRESHOLD_MIN);
        outcomes.push(EventOutcome {
            failed,
            customers_interrupted: o.customers_interrupted,
            customers_sustained: one.customers_sustained as u32,
            customers_momentary: one.customers_momentary as u32,
            customers_not_restored: o.customers_not_restored,
            customer_minutes: one.saidi_min * f64::from(served),
            ens_kwh: one.ens_kwh,
        });
        all.extend(interruptions);
    }
    Ok(OutageEventsStudy {
        events: outcomes,
        indices: reliability_indices(&all, served, SUSTAINED_THRESHOLD_MIN),
        customers_served: served,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<OutageEvent>, OutageEventsError> {
        parse_outage_events(text, Path::new("events.csv"))
    }

    #[test]
    fn an_events_file_is_read_line_by_line() {
        let events = parse(
            "fail,repair_h,switching_min\n# a comment\n\npower:line-1 power:line-2, 2, 30\npower:post-3,0.5,0\n",
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].line, 4);
        assert_eq!(events[0].failed, ["power:line-1 power:line-2"]);
        assert_eq!(events[0].repair_min, 120.0);
        assert_eq!(events[1].switching_min, 0.0);
    }

    #[test]
    fn bad_lines_are_refused_with_file_and_line() {
        let e = parse("fail,repair_h,switching_min\npower:line-1,2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "events.csv:2: 2 fields where the header `fail,repair_h,switching_min` has 3"
        );
        let e = parse("power:line-1,2,30\npower:line-2,1,0\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("events.csv:1: the first line must be the header"),
            "{e}"
        );
        let e = parse("fail,repair_h,switching_min\n ; ,2,3\n").unwrap_err();
        assert!(
            e.to_string().starts_with("events.csv:2: an event fails"),
            "{e}"
        );
        let e = parse("fail,repair_h,switching_min\npower:line-1,-2,3\n").unwrap_err();
        assert!(e.to_string().contains("repair_h `-2`"), "{e}");
        let e = parse("fail,repair_h,switching_min\npower:line-1,NaN,3\n").unwrap_err();
        assert!(e.to_string().contains("repair_h `NaN`"), "{e}");
        assert!(matches!(
            parse("fail,repair_h,switching_min\n"),
            Err(OutageEventsError::Empty { .. })
        ));
    }

    #[test]
    fn failed_elements_are_ids_or_names_and_others_are_refused_by_line() {
        let city = crate::builtin::load_pitesti().expect("Pitești");
        let events = parse(
            "fail,repair_h,switching_min\nStația 110/20 kV Est,4,30\npower:line-5 power:line-6,1,0\nStația 110/20 kV Est; power:line-5,2,10\n",
        )
        .unwrap();
        let study = study_outage_events(&city, &events, 1.0, Path::new("events.csv")).unwrap();
        let failed: Vec<Vec<String>> = study
            .events
            .iter()
            .map(|e| e.failed.iter().map(|id| id.to_string()).collect())
            .collect();
        assert_eq!(
            failed,
            [
                vec!["power:ss-2"],
                vec!["power:line-5", "power:line-6"],
                vec!["power:ss-2", "power:line-5"]
            ]
        );
        // A water pipe is not a power element; an unknown name says where and what.
        for (line, why) in [
            ("water:p-1,2,3", "is a pipe"),
            ("Stația Vest,2,3", "neither the id nor the name"),
        ] {
            let events = parse(&format!("fail,repair_h,switching_min\n{line}\n")).unwrap();
            let e = study_outage_events(&city, &events, 1.0, Path::new("events.csv")).unwrap_err();
            assert!(e.to_string().starts_with("events.csv:2: "), "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
    }
}
