//! Real charging sessions: reading session exports (Dundee City Council's open data, as in
//! `data/ev`), and the simple calibration the live twin's simulated feed draws from (arrivals
//! per charge point by hour of day, energy per session).

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// One complete charging session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub charge_point: String,
    /// The charge point's model (`APT 50kW Raption`, …); empty when the export has none.
    pub model: String,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub energy_kwh: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Bad {
        path: String,
        line: u64,
        why: String,
    },
}

/// Read a Dundee-format export (`Charging event,CP ID,Connector,Start Date,Start Time,End Date,
/// End Time,Total kWh,…`, dates dd/mm/yyyy). Sessions still open at export time (no end or no
/// energy) and sessions that end before they start are skipped, as the data's own notes say.
pub fn read_dundee_sessions(path: &Path) -> Result<Vec<Session>, SessionsError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| SessionsError::Io {
        path: name.clone(),
        source,
    })?;
    parse_dundee_sessions(file, &name)
}

/// [`read_dundee_sessions`] from any reader (an embedded copy); `name` names it in errors.
pub fn parse_dundee_sessions(
    input: impl std::io::Read,
    name: &str,
) -> Result<Vec<Session>, SessionsError> {
    let name = name.to_string();
    let mut reader = csv::Reader::from_reader(input);
    let bad = |line: u64, why: String| SessionsError::Bad {
        path: name.clone(),
        line,
        why,
    };
    let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let col = |h: &str| {
        headers
            .iter()
            .position(|x| x.trim() == h)
            .ok_or_else(|| bad(1, format!("no `{h}` column")))
    };
    let model = headers.iter().position(|x| x.trim() == "Model");
    let (cp, sd, st, ed, et, kwh) = (
        col("CP ID")?,
        col("Start Date")?,
        col("Start Time")?,
        col("End Date")?,
        col("End Time")?,
        col("Total kWh")?,
    );
    let mut out = Vec::new();
    for record in reader.records() {
        let record =
            record.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let when = |d: &str, t: &str| -> Option<NaiveDateTime> {
            let date = NaiveDate::parse_from_str(d, "%d/%m/%Y").ok()?;
            let time = NaiveTime::parse_from_str(t, "%H:%M").ok()?;
            Some(date.and_time(time))
        };
        let Some(start) = when(field(sd), field(st)) else {
            return Err(bad(
                line,
                format!("bad start `{} {}`", field(sd), field(st)),
            ));
        };
        let (Some(end), Ok(energy_kwh)) = (when(field(ed), field(et)), field(kwh).parse::<f64>())
        else {
            continue; // still open at export time
        };
        if end <= start || !energy_kwh.is_finite() || energy_kwh < 0.0 {
            continue;
        }
        out.push(Session {
            charge_point: field(cp).to_string(),
            model: model.map_or("", field).to_string(),
            start,
            end,
            energy_kwh,
        });
    }
    Ok(out)
}

/// A charging-demand model calibrated on real sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargingCalibration {
    /// Mean session arrivals per charge point per hour, by hour of day (0–23).
    pub arrivals_per_point_hour: [f64; 24],
    /// Energy per session, kWh, at the 1st … 99th percentile (99 values, increasing).
    pub energy_percentiles_kwh: Vec<f64>,
    pub sessions: usize,
    pub charge_points: usize,
    pub days: f64,
}

impl ChargingCalibration {
    pub fn from_sessions(sessions: &[Session]) -> Option<ChargingCalibration> {
        let first = sessions.iter().map(|s| s.start).min()?;
        let last = sessions.iter().map(|s| s.start).max()?;
        let days = ((last - first).num_minutes() as f64 / 1440.0).max(1.0);
        let mut points: Vec<&str> = sessions.iter().map(|s| s.charge_point.as_str()).collect();
        points.sort_unstable();
        points.dedup();
        let mut per_hour = [0.0; 24];
        for s in sessions {
            per_hour[s.start.hour() as usize] += 1.0;
        }
        let scale = 1.0 / (days * points.len() as f64);
        for h in &mut per_hour {
            *h *= scale;
        }
        let mut energies: Vec<f64> = sessions.iter().map(|s| s.energy_kwh).collect();
        energies.sort_by(f64::total_cmp);
        let percentiles = (1..=99)
            .map(|p| energies[(p * (energies.len() - 1)) / 100])
            .collect();
        Some(ChargingCalibration {
            arrivals_per_point_hour: per_hour,
            energy_percentiles_kwh: percentiles,
            sessions: sessions.len(),
            charge_points: points.len(),
            days,
        })
    }

    /// Energy of a session for a uniform draw `u` in [0, 1): the empirical quantile,
    /// interpolated between percentiles.
    pub fn energy_kwh(&self, u: f64) -> f64 {
        let p = &self.energy_percentiles_kwh;
        let x = (u.clamp(0.0, 1.0) * (p.len() - 1) as f64).min((p.len() - 1) as f64);
        let i = x.floor() as usize;
        let j = (i + 1).min(p.len() - 1);
        p[i] + (p[j] - p[i]) * (x - i as f64)
    }

    /// Mean energy per session, kWh, of the percentile model.
    pub fn mean_energy_kwh(&self) -> f64 {
        self.energy_percentiles_kwh.iter().sum::<f64>() / self.energy_percentiles_kwh.len() as f64
    }
}
