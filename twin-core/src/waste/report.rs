//! Citizen reports about bins and places: an overflowing or damaged bin, illegal dumping.
//!
//! A report arrives as JSON (over HTTP or MQTT, the same parser for both), is validated against
//! the city ([`parse_report`]), rate-limited per reporter and numbered by a [`ReportBook`], which
//! also resolves reports (an overflowing bin is resolved when a reading shows it emptied; any
//! report by an operator) and counts them: reports per neighbourhood, time to resolve. Open
//! reports about bins make those bins must-go in the next collection plan
//! ([`ReportBook::priority_bins`]).
//!
//! No I/O here: the live twin persists the book's reports and publishes its alerts.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::CityModel;
use crate::entity::Asset;
use crate::geometry::LonLat;
use crate::id::EntityId;

/// What a citizen reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Overflowing,
    Damaged,
    IllegalDumping,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [
        ReportKind::Overflowing,
        ReportKind::Damaged,
        ReportKind::IllegalDumping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Overflowing => "overflowing",
            ReportKind::Damaged => "damaged",
            ReportKind::IllegalDumping => "illegal_dumping",
        }
    }

    pub fn from_name(s: &str) -> Option<ReportKind> {
        ReportKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Largest report body accepted, in bytes.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Longest reporter id, note and photo URL.
pub const MAX_REPORTER_CHARS: usize = 64;
pub const MAX_NOTE_CHARS: usize = 1_000;
pub const MAX_URL_CHARS: usize = 2_048;
/// A report naming a bin must be made within this distance of it (GPS error plus a street).
pub const MAX_DISTANCE_FROM_BIN_M: f64 = 250.0;
/// Reports a reporter may make in any rolling hour.
pub const REPORTS_PER_HOUR: usize = 5;
/// A reading at or below this level after an overflowing report means the bin was emptied.
pub const EMPTIED_LEVEL: f64 = 0.15;

/// Why a report was refused. `reason()` is a stable code; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    #[error("report of {0} bytes exceeds the limit of {MAX_REPORT_BYTES}")]
    TooLarge(usize),
    #[error("report is not valid JSON: {0}")]
    Malformed(String),
    #[error("report field `{field}`: {why}")]
    BadField { field: &'static str, why: String },
    #[error("report names `{0}`, which this city does not have")]
    UnknownBin(String),
    #[error("report names `{0}`, which is not a waste bin")]
    NotABin(String),
    #[error("report location {lat}, {lon} is outside the city")]
    OutsideCity { lat: f64, lon: f64 },
    #[error(
        "report location is {metres:.0} m from {bin}; reports about a bin must be made within {MAX_DISTANCE_FROM_BIN_M} m of it"
    )]
    FarFromBin { bin: String, metres: f64 },
    #[error(
        "reporter `{reporter}` has made {REPORTS_PER_HOUR} reports in the last hour; retry in {retry_after_s} s"
    )]
    RateLimited {
        reporter: String,
        retry_after_s: i64,
    },
    #[error("there is no report {0}")]
    UnknownReport(u64),
    #[error("report {0} is already resolved")]
    AlreadyResolved(u64),
}

impl ReportError {
    pub fn reason(&self) -> &'static str {
        match self {
            ReportError::TooLarge(_) => "payload_too_large",
            ReportError::Malformed(_) => "malformed",
            ReportError::BadField { .. } => "bad_field",
            ReportError::UnknownBin(_) => "unknown_entity",
            ReportError::NotABin(_) => "not_a_bin",
            ReportError::OutsideCity { .. } => "outside_city",
            ReportError::FarFromBin { .. } => "far_from_bin",
            ReportError::RateLimited { .. } => "rate_limited",
            ReportError::UnknownReport(_) => "unknown_report",
            ReportError::AlreadyResolved(_) => "already_resolved",
        }
    }
}

/// A validated report, not yet numbered.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDraft {
    pub reporter: String,
    pub kind: ReportKind,
    /// The bin reported about (its index in the city), if any.
    pub bin: Option<usize>,
    pub location: LonLat,
    pub photo_url: Option<String>,
    pub note: Option<String>,
}

/// A report as the twin keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CitizenReport {
    pub id: u64,
    pub reporter: String,
    pub kind: ReportKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    pub lat: f64,
    pub lon: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub neighbourhood: String,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// How it was resolved: `bin_emptied` or an operator's word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl CitizenReport {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    pub fn hours_to_resolve(&self) -> Option<f64> {
        self.resolved_at
            .map(|t| (t - self.received_at).num_milliseconds() as f64 / 3.6e6)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReportBody {
    reporter: Option<String>,
    kind: Option<String>,
    bin: Option<String>,
    location: Option<LocationBody>,
    photo_url: Option<String>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    lat: f64,
    lon: f64,
}

fn bad(field: &'static str, why: impl Into<String>) -> ReportError {
    ReportError::BadField {
        field,
        why: why.into(),
    }
}

/// Parse and validate one report body against the city.
///
/// `{"reporter": "app-7f3a", "kind": "overflowing" | "damaged" | "illegal_dumping",
///   "bin": "bin:17", "location": {"lat": 44.856, "lon": 24.869},
///   "photoUrl": "https://…", "note": "…"}`: `reporter` and `kind` are required, and a `bin`
/// or a `location` (or both, then within [`MAX_DISTANCE_FROM_BIN_M`] of each other).
pub fn parse_report(body: &[u8], city: &CityModel) -> Result<ReportDraft, ReportError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge(body.len()));
    }
    let b: ReportBody =
        serde_json::from_slice(body).map_err(|e| ReportError::Malformed(e.to_string()))?;
    let reporter = b.reporter.ok_or_else(|| bad("reporter", "missing"))?;
    let reporter_ok = !reporter.is_empty()
        && reporter.chars().count() <= MAX_REPORTER_CHARS
        && reporter
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !reporter_ok {
        return Err(bad(
            "reporter",
            format!(
                "`{}` must be 1–{MAX_REPORTER_CHARS} letters, digits, `-`, `_`, `.` or `@`",
                reporter.chars().take(80).collect::<String>()
            ),
        ));
    }
    let kind_name = b.kind.ok_or_else(|| bad("kind", "missing"))?;
    let kind = ReportKind::from_name(&kind_name).ok_or_else(|| {
        bad(
            "kind",
            format!("`{kind_name}` is not overflowing, damaged or illegal_dumping"),
        )
    })?;
    let bin = match &b.bin {
        None => None,
        Some(text) => {
            let id: EntityId = text
                .parse()
                .map_err(|_| ReportError::UnknownBin(text.clone()))?;
            let index = city
                .entity_index(&id)
                .ok_or_else(|| ReportError::UnknownBin(text.clone()))?;
            match city.entities()[index].asset {
                Asset::WasteBin(_) => Some(index),
                _ => return Err(ReportError::NotABin(text.clone())),
            }
        }
    };
    let location = match (&b.location, bin) {
        (Some(l), _) => {
            if !(l.lat.is_finite() && (-90.0..=90.0).contains(&l.lat)) {
                return Err(bad("location.lat", format!("{} is not a latitude", l.lat)));
            }
            if !(l.lon.is_finite() && (-180.0..=180.0).contains(&l.lon)) {
                return Err(bad("location.lon", format!("{} is not a longitude", l.lon)));
            }
            let p = LonLat::new(l.lon, l.lat);
            if !city.contains(p) {
                return Err(ReportError::OutsideCity {
                    lat: l.lat,
                    lon: l.lon,
                });
            }
            if let (Some(i), Some(text)) = (bin, &b.bin) {
                let metres = city.entities()[i].location.distance_m(p);
                if metres > MAX_DISTANCE_FROM_BIN_M {
                    return Err(ReportError::FarFromBin {
                        bin: text.clone(),
                        metres,
                    });
                }
            }
            p
        }
        (None, Some(i)) => city.entities()[i].location,
        (None, None) => return Err(bad("location", "missing: give a bin, a location or both")),
    };
    if kind == ReportKind::Overflowing && bin.is_none() {
        return Err(bad("bin", "an overflowing report must name the bin"));
    }
    let photo_url = match b.photo_url {
        Some(u) => {
            let scheme_ok = u.starts_with("https://") || u.starts_with("http://");
            if !scheme_ok || u.chars().count() > MAX_URL_CHARS || u.chars().any(char::is_whitespace)
            {
                return Err(bad(
                    "photoUrl",
                    format!(
                        "must be an http(s) URL of at most {MAX_URL_CHARS} characters without spaces"
                    ),
                ));
            }
            Some(u)
        }
        None => None,
    };
    if let Some(n) = &b.note
        && n.chars().count() > MAX_NOTE_CHARS
    {
        return Err(bad(
            "note",
            format!("{} characters; at most {MAX_NOTE_CHARS}", n.chars().count()),
        ));
    }
    Ok(ReportDraft {
        reporter,
        kind,
        bin,
        location,
        photo_url,
        note: b.note,
    })
}

/// Counts of reports for KPIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportKpis {
    pub open: usize,
    pub resolved: usize,
    /// Reports received per neighbourhood, open and all.
    pub by_neighbourhood: BTreeMap<String, NeighbourhoodReports>,
    pub by_kind: BTreeMap<&'static str, usize>,
    pub mean_hours_to_resolve: Option<f64>,
    pub median_hours_to_resolve: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct NeighbourhoodReports {
    pub open: usize,
    pub total: usize,
}

/// Every report the twin holds, with the rate limiter.
#[derive(Debug, Clone, Default)]
pub struct ReportBook {
    reports: BTreeMap<u64, CitizenReport>,
    /// Times of each reporter's reports in the last hour.
    recent: HashMap<String, VecDeque<DateTime<Utc>>>,
}

impl ReportBook {
    /// A book holding reports kept from before (their rate-limit windows included).
    pub fn restore(reports: impl IntoIterator<Item = CitizenReport>) -> ReportBook {
        let mut book = ReportBook::default();
        let mut all: Vec<CitizenReport> = reports.into_iter().collect();
        all.sort_by_key(|r| r.received_at);
        for r in all {
            book.recent
                .entry(r.reporter.clone())
                .or_default()
                .push_back(r.received_at);
            book.reports.insert(r.id, r);
        }
        book
    }

    /// Number a draft and keep it, unless its reporter is over the rate limit.
    pub fn accept(
        &mut self,
        draft: ReportDraft,
        city: &CityModel,
        now: DateTime<Utc>,
    ) -> Result<CitizenReport, ReportError> {
        let window = self.recent.entry(draft.reporter.clone()).or_default();
        while window
            .front()
            .is_some_and(|&t| now - t >= Duration::hours(1))
        {
            window.pop_front();
        }
        if window.len() >= REPORTS_PER_HOUR {
            let oldest = window.front().copied().unwrap_or(now);
            return Err(ReportError::RateLimited {
                reporter: draft.reporter,
                retry_after_s: (oldest + Duration::hours(1) - now).num_seconds().max(1),
            });
        }
        window.push_back(now);
        let id = self.reports.keys().next_back().map_or(1, |k| k + 1);
        let neighbourhood = city
            .nearest_neighbourhood(draft.location)
            .map_or_else(String::new, |k| city.meta.neighbourhoods[k].name.clone());
        let report = CitizenReport {
            id,
            reporter: draft.reporter,
            kind: draft.kind,
            bin: draft.bin.map(|i| city.entities()[i].id.to_string()),
            lat: draft.location.lat,
            lon: draft.location.lon,
            photo_url: draft.photo_url,
            note: draft.note,
            neighbourhood,
            received_at: now,
            resolved_at: None,
            resolution: None,
        };
        self.reports.insert(id, report.clone());
        Ok(report)
    }

    /// Resolve one report (an operator closing it).
    pub fn resolve(
        &mut self,
        id: u64,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> Result<CitizenReport, ReportError> {
        let r = self
            .reports
            .get_mut(&id)
            .ok_or(ReportError::UnknownReport(id))?;
        if !r.is_open() {
            return Err(ReportError::AlreadyResolved(id));
        }
        r.resolved_at = Some(now.max(r.received_at));
        r.resolution = Some(resolution.to_string());
        Ok(r.clone())
    }

    /// A reading showed `bin` at `level`: at or below [`EMPTIED_LEVEL`] it resolves the bin's
    /// open overflowing reports. Returns the reports resolved.
    pub fn bin_level(&mut self, bin: &str, level: f64, now: DateTime<Utc>) -> Vec<CitizenReport> {
        if level > EMPTIED_LEVEL {
            return Vec::new();
        }
        self.reports
            .values_mut()
            .filter(|r| {
                r.is_open() && r.kind == ReportKind::Overflowing && r.bin.as_deref() == Some(bin)
            })
            .map(|r| {
                r.resolved_at = Some(now.max(r.received_at));
                r.resolution = Some("bin_emptied".into());
                r.clone()
            })
            .collect()
    }

    /// Whether some open overflowing report names this bin.
    pub fn has_open_overflow(&self, bin: &str) -> bool {
        self.reports.values().any(|r| {
            r.is_open() && r.kind == ReportKind::Overflowing && r.bin.as_deref() == Some(bin)
        })
    }

    /// Whether any overflowing report is open (a cheap check before looking at readings).
    pub fn any_open_overflow(&self) -> bool {
        self.reports
            .values()
            .any(|r| r.is_open() && r.kind == ReportKind::Overflowing)
    }

    /// Take back a report just accepted (its storage failed): it and its place in the
    /// reporter's rate-limit window are gone.
    pub fn withdraw(&mut self, id: u64) {
        if let Some(r) = self.reports.remove(&id)
            && let Some(w) = self.recent.get_mut(&r.reporter)
            && let Some(k) = w.iter().rposition(|&t| t == r.received_at)
        {
            w.remove(k);
        }
    }

    pub fn get(&self, id: u64) -> Option<&CitizenReport> {
        self.reports.get(&id)
    }

    pub fn all(&self) -> impl DoubleEndedIterator<Item = &CitizenReport> {
        self.reports.values()
    }

    pub fn open(&self) -> impl Iterator<Item = &CitizenReport> {
        self.reports.values().filter(|r| r.is_open())
    }

    /// Bins with an open overflowing or damaged report: they go first in the next plan.
    pub fn priority_bins(&self, city: &CityModel) -> HashSet<usize> {
        self.open()
            .filter(|r| r.kind != ReportKind::IllegalDumping)
            .filter_map(|r| r.bin.as_deref())
            .filter_map(|b| b.parse::<EntityId>().ok())
            .filter_map(|id| city.entity_index(&id))
            .collect()
    }

    pub fn kpis(&self) -> ReportKpis {
        let mut k = ReportKpis::default();
        let mut hours = Vec::new();
        for r in self.reports.values() {
            let n = k
                .by_neighbourhood
                .entry(r.neighbourhood.clone())
                .or_default();
            n.total += 1;
            *k.by_kind.entry(r.kind.name()).or_default() += 1;
            match r.hours_to_resolve() {
                Some(h) => {
                    k.resolved += 1;
                    hours.push(h);
                }
                None => {
                    k.open += 1;
                    n.open += 1;
                }
            }
        }
        if !hours.is_empty() {
            hours.sort_by(f64::total_cmp);
            k.mean_hours_to_resolve = Some(hours.iter().sum::<f64>() / hours.len() as f64);
            let m = hours.len() / 2;
            k.median_hours_to_resolve = Some(if hours.len() % 2 == 1 {
                hours[m]
            } else {
                (hours[m - 1] + hours[m]) / 2.0
            });
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::load_city;
    use std::sync::OnceLock;

    fn city() -> &'static CityModel {
        static CITY: OnceLock<CityModel> = OnceLock::new();
        CITY.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti");
            load_city(&dir).expect("the Pitești bundle loads")
        })
    }

    fn first_bin() -> (String, LonLat) {
        // The bin nearest the centre, so that points around it are in the city.
        let centre = city().meta.centre;
        let e = city()
            .entities()
            .iter()
            .filter(|e| matches!(e.asset, Asset::WasteBin(_)))
            .min_by(|a, b| {
                a.location
                    .distance_m(centre)
                    .total_cmp(&b.location.distance_m(centre))
            })
            .expect("Pitești has bins");
        (e.id.to_string(), e.location)
    }

    fn at(hours: i64) -> DateTime<Utc> {
        "2026-11-27T08:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time")
            + Duration::hours(hours)
    }

    #[test]
    fn a_report_about_a_bin_takes_the_bins_place_and_neighbourhood() {
        let (bin, p) = first_bin();
        let body = format!(r#"{{"reporter":"app-1","kind":"overflowing","bin":"{bin}"}}"#);
        let draft = parse_report(body.as_bytes(), city()).expect("valid");
        assert_eq!(draft.location, p);
        let mut book = ReportBook::default();
        let r = book.accept(draft, city(), at(0)).expect("accepted");
        assert_eq!(r.id, 1);
        assert!(!r.neighbourhood.is_empty());
        assert_eq!(book.priority_bins(city()).len(), 1);
    }

    #[test]
    fn bad_reports_name_their_field() {
        let (bin, p) = first_bin();
        let check = |body: String, reason: &str, needle: &str| {
            let e = parse_report(body.as_bytes(), city()).expect_err(&body);
            assert_eq!(e.reason(), reason, "{body}: {e}");
            assert!(e.to_string().contains(needle), "{body}: {e}");
        };
        check("not json".into(), "malformed", "not valid JSON");
        check(r#"{"kind":"damaged"}"#.into(), "bad_field", "`reporter`");
        check(
            format!(r#"{{"reporter":"a b","kind":"damaged","bin":"{bin}"}}"#),
            "bad_field",
            "`reporter`",
        );
        check(
            format!(r#"{{"reporter":"a","kind":"smelly","bin":"{bin}"}}"#),
            "bad_field",
            "`smelly`",
        );
        check(
            r#"{"reporter":"a","kind":"damaged","bin":"bin:nope"}"#.into(),
            "unknown_entity",
            "bin:nope",
        );
        check(
            r#"{"reporter":"a","kind":"damaged","bin":"charger:1"}"#.into(),
            "not_a_bin",
            "charger:1",
        );
        check(
            r#"{"reporter":"a","kind":"damaged","location":{"lat":48.1,"lon":11.5}}"#.into(),
            "outside_city",
            "outside the city",
        );
        check(
            r#"{"reporter":"a","kind":"damaged","location":{"lat":144.0,"lon":24.8}}"#.into(),
            "bad_field",
            "location.lat",
        );
        check(
            r#"{"reporter":"a","kind":"illegal_dumping"}"#.into(),
            "bad_field",
            "`location`",
        );
        check(
            format!(
                r#"{{"reporter":"a","kind":"overflowing","location":{{"lat":{},"lon":{}}}}}"#,
                p.lat, p.lon
            ),
            "bad_field",
            "must name the bin",
        );
        check(
            format!(
                r#"{{"reporter":"a","kind":"damaged","bin":"{bin}","location":{{"lat":{},"lon":{}}}}}"#,
                p.lat + 0.01,
                p.lon
            ),
            "far_from_bin",
            &bin,
        );
        check(
            format!(
                r#"{{"reporter":"a","kind":"damaged","bin":"{bin}","photoUrl":"file:///etc/passwd"}}"#
            ),
            "bad_field",
            "photoUrl",
        );
        check(
            format!(r#"{{"reporter":"a","kind":"damaged","bin":"{bin}","colour":"red"}}"#),
            "malformed",
            "colour",
        );
        check(
            format!(
                r#"{{"reporter":"a","kind":"damaged","bin":"{bin}","note":"{}"}}"#,
                "x".repeat(1001)
            ),
            "bad_field",
            "`note`",
        );
        check(
            " ".repeat(MAX_REPORT_BYTES + 1),
            "payload_too_large",
            "exceeds",
        );
    }

    #[test]
    fn a_reporter_gets_five_reports_an_hour() {
        let (bin, _) = first_bin();
        let body = format!(r#"{{"reporter":"busy","kind":"damaged","bin":"{bin}"}}"#);
        let draft = || parse_report(body.as_bytes(), city()).expect("valid");
        let mut book = ReportBook::default();
        for k in 0..REPORTS_PER_HOUR as i64 {
            book.accept(draft(), city(), at(0) + Duration::minutes(k))
                .expect("within the limit");
        }
        let e = book
            .accept(draft(), city(), at(0) + Duration::minutes(30))
            .expect_err("sixth in an hour");
        assert_eq!(
            e,
            ReportError::RateLimited {
                reporter: "busy".into(),
                retry_after_s: 30 * 60,
            }
        );
        // Someone else is not limited; and an hour after the first, the busy one may again.
        let other = format!(r#"{{"reporter":"other","kind":"damaged","bin":"{bin}"}}"#);
        let d = parse_report(other.as_bytes(), city()).expect("valid");
        book.accept(d, city(), at(0) + Duration::minutes(30))
            .expect("other reporter");
        book.accept(draft(), city(), at(1))
            .expect("window moved on");
        // The limit survives a restart: the windows are rebuilt from the kept reports.
        let mut again = ReportBook::restore(book.all().cloned());
        assert!(
            again
                .accept(draft(), city(), at(1) + Duration::seconds(30))
                .is_err()
        );
    }

    #[test]
    fn emptying_resolves_overflowing_reports_and_kpis_count_them() {
        let (bin, _) = first_bin();
        let mut book = ReportBook::default();
        let body = |k: &str| format!(r#"{{"reporter":"r{k}","kind":"{k}","bin":"{bin}"}}"#);
        for k in ["overflowing", "damaged"] {
            let d = parse_report(body(k).as_bytes(), city()).expect("valid");
            book.accept(d, city(), at(0)).expect("accepted");
        }
        assert!(book.has_open_overflow(&bin));
        assert!(book.bin_level(&bin, 0.6, at(1)).is_empty(), "not emptied");
        let resolved = book.bin_level(&bin, 0.05, at(3));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].kind, ReportKind::Overflowing);
        assert!(!book.has_open_overflow(&bin));
        // The damaged bin stays a priority until an operator resolves it.
        assert_eq!(book.priority_bins(city()).len(), 1);
        let k = book.kpis();
        assert_eq!((k.open, k.resolved), (1, 1));
        assert_eq!(k.mean_hours_to_resolve, Some(3.0));
        book.resolve(2, "replaced", at(5)).expect("operator");
        assert_eq!(
            book.resolve(2, "again", at(6)),
            Err(ReportError::AlreadyResolved(2))
        );
        assert_eq!(
            book.resolve(9, "x", at(6)),
            Err(ReportError::UnknownReport(9))
        );
        let k = book.kpis();
        assert_eq!(k.median_hours_to_resolve, Some(4.0));
        assert_eq!(
            k.by_neighbourhood.values().map(|n| n.total).sum::<usize>(),
            2
        );
        assert!(book.priority_bins(city()).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_body_gets_a_draft_or_an_error(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_report(&body, city());
        }

        #[test]
        fn any_json_object_gets_a_draft_or_an_error(
            reporter in "[ -~]{0,70}", kind in "[a-z_]{0,16}", lat in -100.0f64..100.0, lon in -200.0f64..200.0
        ) {
            let body = serde_json::json!({"reporter": reporter, "kind": kind,
                "location": {"lat": lat, "lon": lon}}).to_string();
            let _ = parse_report(body.as_bytes(), city());
        }
    }
}
