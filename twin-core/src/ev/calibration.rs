//! The charging-demand fit on real sessions, and the load profile that checks it.
//!
//! Sessions are split by charger class (AC posts, rapid DC) because the two are different
//! behaviours: hours-long plug-ins against half-hour stops. For each class the fit keeps
//! - arrivals per charge point and day, by hour of day (24 values);
//! - for sessions starting in each 4-hour block of the day: the share that delivers almost no
//!   energy (failed or aborted starts, under 0.5 kWh), and a bivariate log-normal of plug-in time
//!   and energy for the others. The correlation matters: long stays do not draw more power, and
//!   sampling the two independently overstates the load of long overnight sessions.
//!
//! [`even_spread_profile`] turns sessions into the mean load by hour of day, spreading each
//! session's energy evenly over its plug-in time in 15-minute bins, which is how the reference
//! profile in `data/ev` was computed from the same data: the same function serves the data and
//! the model, so they are compared like with like.

use rand::Rng;

use super::sessions::Session;
use crate::sampling::standard_normal;

/// What kind of charge point a session was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargerClass {
    /// AC posts (7 or 22 kW).
    Ac,
    /// DC rapid chargers (50 kW class).
    Rapid,
}

impl ChargerClass {
    /// The class of a charge point from its model name (`APT 50kW Raption`, `APT Triple Rapid`
    /// are rapid; the 7 and 22 kW posts are AC).
    pub fn of_model(model: &str) -> ChargerClass {
        let m = model.to_ascii_lowercase();
        if m.contains("rapid") || m.contains("raption") {
            ChargerClass::Rapid
        } else {
            ChargerClass::Ac
        }
    }
}

/// Sessions under this energy count as delivering nothing.
pub const EMPTY_SESSION_KWH: f64 = 0.5;
/// Hours in one block of the day with its own session shape.
pub const BLOCK_HOURS: usize = 4;
const BLOCKS: usize = 24 / BLOCK_HOURS;

/// The joint distribution of plug-in time and energy of sessions starting in one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionShape {
    /// Share of sessions delivering less than [`EMPTY_SESSION_KWH`].
    pub empty_share: f64,
    /// Mean of (ln hours, ln kWh) of the others.
    pub mean_ln: [f64; 2],
    /// Lower Cholesky factor of their covariance: (l11, l21, l22).
    pub chol: [f64; 3],
}

impl SessionShape {
    /// Fit from (hours, kWh) pairs; None with fewer than 10 non-empty sessions.
    pub fn fit(sessions: &[(f64, f64)]) -> Option<SessionShape> {
        let full: Vec<[f64; 2]> = sessions
            .iter()
            .filter(|(h, e)| *h > 0.0 && *e >= EMPTY_SESSION_KWH)
            .map(|(h, e)| [h.max(1.0 / 60.0).ln(), e.ln()])
            .collect();
        if full.len() < 10 {
            return None;
        }
        let n = full.len() as f64;
        let m = [
            full.iter().map(|x| x[0]).sum::<f64>() / n,
            full.iter().map(|x| x[1]).sum::<f64>() / n,
        ];
        let cov = |a: usize, b: usize| {
            full.iter()
                .map(|x| (x[a] - m[a]) * (x[b] - m[b]))
                .sum::<f64>()
                / (n - 1.0)
        };
        let (s11, s21, s22) = (cov(0, 0), cov(1, 0), cov(1, 1));
        let l11 = s11.max(1e-12).sqrt();
        let l21 = s21 / l11;
        let l22 = (s22 - l21 * l21).max(1e-12).sqrt();
        Some(SessionShape {
            empty_share: 1.0 - n / sessions.len() as f64,
            mean_ln: m,
            chol: [l11, l21, l22],
        })
    }

    /// Draw (hours plugged in, kWh delivered).
    pub fn sample(&self, rng: &mut impl Rng) -> (f64, f64) {
        let (z1, z2) = (standard_normal(rng), standard_normal(rng));
        let hours = (self.mean_ln[0] + self.chol[0] * z1).exp();
        let energy = (self.mean_ln[1] + self.chol[1] * z1 + self.chol[2] * z2).exp();
        let empty = rng.random::<f64>() < self.empty_share;
        (hours, if empty { 0.0 } else { energy })
    }

    /// Median plug-in hours and energy of the non-empty sessions.
    pub fn medians(&self) -> (f64, f64) {
        (self.mean_ln[0].exp(), self.mean_ln[1].exp())
    }
}

/// The fit of one charger class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFit {
    pub charge_points: usize,
    pub sessions: usize,
    /// Arrivals per charge point and day, by hour of day.
    pub arrivals_per_point_day: [f64; 24],
    /// Session shapes by 4-hour block (00–04, 04–08, …).
    pub shapes: [SessionShape; BLOCKS],
}

impl ClassFit {
    /// Draw a session starting at `hour` (0–23): (hours plugged in, kWh).
    pub fn sample(&self, hour: usize, rng: &mut impl Rng) -> (f64, f64) {
        self.shapes[(hour % 24) / BLOCK_HOURS].sample(rng)
    }

    /// The share of a day's arrivals in each hour.
    pub fn arrival_shares(&self) -> [f64; 24] {
        let total: f64 = self.arrivals_per_point_day.iter().sum();
        let mut s = [0.0; 24];
        for (h, v) in s.iter_mut().enumerate() {
            *v = self.arrivals_per_point_day[h] / total.max(f64::EPSILON);
        }
        s
    }
}

/// The demand fit of both classes.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandFit {
    pub ac: ClassFit,
    pub rapid: ClassFit,
    /// Days the data spans.
    pub days: f64,
}

impl DemandFit {
    /// Fit on sessions (each with its charge point's model). Errors name what is missing.
    pub fn from_sessions(sessions: &[Session]) -> Result<DemandFit, String> {
        let first = sessions
            .iter()
            .map(|s| s.start)
            .min()
            .ok_or("no sessions")?;
        let last = sessions
            .iter()
            .map(|s| s.start)
            .max()
            .ok_or("no sessions")?;
        let days = ((last - first).num_minutes() as f64 / 1440.0).max(1.0);
        let fit = |class: ChargerClass| -> Result<ClassFit, String> {
            use chrono::Timelike;
            let own: Vec<&Session> = sessions
                .iter()
                .filter(|s| ChargerClass::of_model(&s.model) == class)
                .collect();
            let mut points: Vec<&str> = own.iter().map(|s| s.charge_point.as_str()).collect();
            points.sort_unstable();
            points.dedup();
            if points.is_empty() {
                return Err(format!("no {class:?} sessions"));
            }
            let mut arrivals = [0.0; 24];
            let mut by_block: Vec<Vec<(f64, f64)>> = vec![Vec::new(); BLOCKS];
            for s in &own {
                let h = s.start.hour() as usize;
                arrivals[h] += 1.0;
                let hours = (s.end - s.start).num_seconds() as f64 / 3600.0;
                by_block[h / BLOCK_HOURS].push((hours, s.energy_kwh));
            }
            for a in &mut arrivals {
                *a /= days * points.len() as f64;
            }
            let mut shapes = Vec::with_capacity(BLOCKS);
            for (b, block) in by_block.iter().enumerate() {
                shapes.push(SessionShape::fit(block).ok_or_else(|| {
                    format!(
                        "{class:?}: too few sessions starting {:02}:00–{:02}:00 to fit",
                        b * BLOCK_HOURS,
                        (b + 1) * BLOCK_HOURS
                    )
                })?);
            }
            Ok(ClassFit {
                charge_points: points.len(),
                sessions: own.len(),
                arrivals_per_point_day: arrivals,
                shapes: shapes.try_into().map_err(|_| "block count".to_string())?,
            })
        };
        Ok(DemandFit {
            ac: fit(ChargerClass::Ac)?,
            rapid: fit(ChargerClass::Rapid)?,
            days,
        })
    }

    pub fn class(&self, class: ChargerClass) -> &ClassFit {
        match class {
            ChargerClass::Ac => &self.ac,
            ChargerClass::Rapid => &self.rapid,
        }
    }
}

/// Mean load (kW) by hour of day of sessions given as (start hour from the origin, hours
/// plugged in, kWh), each spread evenly over its plug-in time, over `days` whole days of
/// 15-minute bins from the origin (load beyond them is cut off).
pub fn even_spread_profile(
    sessions: impl IntoIterator<Item = (f64, f64, f64)>,
    days: usize,
) -> [f64; 24] {
    let bins = days * 96;
    let mut load = vec![0.0f64; bins];
    for (start, hours, kwh) in sessions {
        // Written so that NaN hours or energy are skipped too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let unusable = !(hours > 0.0) || !(kwh > 0.0) || !start.is_finite();
        if unusable {
            continue;
        }
        let kw = kwh / hours;
        let (a, b) = (start * 4.0, (start + hours) * 4.0);
        let first = a.floor().max(0.0) as usize;
        let last = (b.ceil() as usize).min(bins);
        for (i, slot) in load.iter_mut().enumerate().take(last).skip(first) {
            let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
            *slot += kw * overlap;
        }
    }
    let mut by_hour = [0.0; 24];
    for (i, v) in load.iter().enumerate() {
        by_hour[(i / 4) % 24] += v;
    }
    for v in &mut by_hour {
        *v /= (days * 4).max(1) as f64;
    }
    by_hour
}

/// Pearson correlation of two equally long series.
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt().max(f64::EPSILON)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_shape_recovers_known_log_normal_parameters() {
        let truth = SessionShape {
            empty_share: 0.1,
            mean_ln: [1.0, 2.0],
            chol: [0.8, 0.3, 0.5],
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let draws: Vec<(f64, f64)> = (0..50_000).map(|_| truth.sample(&mut rng)).collect();
        let fit = SessionShape::fit(&draws).expect("fit");
        assert!((fit.empty_share - 0.1).abs() < 0.01, "{fit:?}");
        for k in 0..2 {
            assert!((fit.mean_ln[k] - truth.mean_ln[k]).abs() < 0.02, "{fit:?}");
        }
        for k in 0..3 {
            assert!((fit.chol[k] - truth.chol[k]).abs() < 0.02, "{fit:?}");
        }
        assert!(SessionShape::fit(&draws[..5]).is_none());
    }

    #[test]
    fn even_spread_puts_a_sessions_energy_on_its_hours() {
        // 10 kWh over 02:30–04:30 on the one day: 5 kW in hours 2 (half), 3 and 4 (half).
        let p = even_spread_profile([(2.5, 2.0, 10.0)], 1);
        assert!(
            (p[2] - 2.5).abs() < 1e-9 && (p[3] - 5.0).abs() < 1e-9 && (p[4] - 2.5).abs() < 1e-9
        );
        assert!((p.iter().sum::<f64>() - 10.0).abs() < 1e-9);
        // Over two days the mean halves; a session running past the end is cut off.
        let p = even_spread_profile([(2.5, 2.0, 10.0), (47.0, 4.0, 40.0)], 2);
        assert!((p[3] - 2.5).abs() < 1e-9 && (p[23] - 5.0).abs() < 1e-9);
    }

    #[test]
    fn classes_come_from_model_names() {
        assert_eq!(
            ChargerClass::of_model("APT 50kW Raption"),
            ChargerClass::Rapid
        );
        assert_eq!(
            ChargerClass::of_model("APT Triple Rapid Charger"),
            ChargerClass::Rapid
        );
        assert_eq!(
            ChargerClass::of_model("APT 7kW Dual Outlet"),
            ChargerClass::Ac
        );
        assert!((correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.9986).abs() < 1e-3);
    }
}
