//! Fill-level estimation for one waste bin.
//!
//! A bin fills roughly linearly between emptyings. The estimator keeps the readings since the
//! last emptying (a drop larger than the sensor noise allows), fits the fill rate by Bayesian
//! linear regression with a prior from the bin's stream, weekday and season (so a new bin or a
//! freshly emptied one still has a sensible rate), and predicts when the bin reaches full with a
//! 90 % interval from the rate's posterior uncertainty.

use super::sorting::capture_rate;
use crate::entity::WasteKind;

/// The level a bin's load reaches at most, as a fraction of its volume. Waste does not vanish when a bin is full: it is left beside the bin and the crew collects it,
/// up to half a bin more (beyond that it counts as uncollected: blown away, fly-tipped).
pub const SIDE_WASTE_LIMIT: f64 = 1.5;

/// Typical fill rate of a container in a residential street, as a fraction per day: what the
/// households it serves would put in it if they sorted perfectly (synthetic planning values:
/// residual about every 3 days, recyclables a week, glass two), times how much of its material
/// they actually put in it ([`capture_rate`], Romanian sorting). The residual bin's rate already
/// holds what is not sorted.
pub fn base_rate_per_day(kind: WasteKind) -> f64 {
    let perfect_sorting = match kind {
        WasteKind::Residual => 0.33,
        WasteKind::Bio => 0.30,
        WasteKind::PlasticMetal => 0.16,
        WasteKind::Paper => 0.14,
        WasteKind::Glass => 0.07,
    };
    perfect_sorting * capture_rate(kind)
}

/// Weekday factor (Monday = 0): weekends fill faster in residential streets.
pub fn weekday_factor(weekday: u32) -> f64 {
    match weekday % 7 {
        5 | 6 => 1.25,
        _ => 0.94,
    }
}

/// Season factor by month (1–12): bio waste peaks in summer and autumn, glass in summer and
/// December.
pub fn season_factor(kind: WasteKind, month: u32) -> f64 {
    match (kind, month) {
        (WasteKind::Bio, 6..=10) => 1.3,
        (WasteKind::Bio, 12 | 1 | 2) => 0.8,
        (WasteKind::Glass, 6..=8 | 12) => 1.3,
        _ => 1.0,
    }
}

/// Prior fill rate per hour, as a fraction of the bin, for a bin of `kind` on `weekday` in
/// `month`, scaled by a neighbourhood factor (1 = typical). Containers are sized to the
/// households they serve (a 240 l bin at a house, 1,100 l at a block of flats), so the fraction
/// per day does not depend on the container's volume.
pub fn prior_rate_per_hour(
    kind: WasteKind,
    weekday: u32,
    month: u32,
    neighbourhood_factor: f64,
) -> f64 {
    base_rate_per_day(kind)
        * weekday_factor(weekday)
        * season_factor(kind, month)
        * neighbourhood_factor
        / 24.0
}

/// What the estimator concludes from the readings so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillEstimate {
    /// Fill rate, fraction of the bin per hour, and its standard deviation.
    pub rate_per_h: f64,
    pub rate_sd_per_h: f64,
    /// Estimated level at the last reading's time (smoothed).
    pub level: f64,
    /// Hours from the last reading until full: the central estimate and a 90 % interval.
    pub hours_to_full: f64,
    pub hours_to_full_low: f64,
    pub hours_to_full_high: f64,
    /// Readings since the last emptying used for the fit.
    pub readings: usize,
}

/// Fill-level estimator of one bin.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FillEstimator {
    prior_rate_per_h: f64,
    prior_sd_per_h: f64,
    noise_sd: f64,
    /// (hours, level) since the last emptying.
    since_emptied: Vec<(f64, f64)>,
    emptyings: usize,
}

impl FillEstimator {
    /// A new estimator with a prior rate (fraction per hour), the prior's relative uncertainty
    /// (0.5 = ±50 %), and the sensor's noise standard deviation (fraction of the bin).
    pub fn new(prior_rate_per_h: f64, prior_relative_sd: f64, noise_sd: f64) -> FillEstimator {
        FillEstimator {
            prior_rate_per_h,
            prior_sd_per_h: (prior_rate_per_h * prior_relative_sd).max(1e-6),
            noise_sd: noise_sd.max(1e-4),
            since_emptied: Vec::new(),
            emptyings: 0,
        }
    }

    /// Times the bin was seen emptied.
    pub fn emptyings(&self) -> usize {
        self.emptyings
    }

    /// Apply a reading at `hours` (any origin, increasing) of `level` (0–1). Returns true when
    /// the reading shows the bin was emptied since the previous one.
    pub fn apply_reading(&mut self, hours: f64, level: f64) -> bool {
        let level = level.clamp(0.0, 1.0);
        let emptied = match self.estimate() {
            Some(e) => {
                // Expected level now, and a drop well beyond what noise explains.
                let dt = hours - self.since_emptied.last().map_or(hours, |r| r.0);
                let expected = (e.level + e.rate_per_h * dt).min(1.0);
                expected - level > (0.15f64).max(5.0 * self.noise_sd)
            }
            None => false,
        };
        if emptied {
            self.since_emptied.clear();
            self.emptyings += 1;
        }
        self.since_emptied.push((hours, level));
        emptied
    }

    /// The current estimate, or None before any reading.
    pub fn estimate(&self) -> Option<FillEstimate> {
        let n = self.since_emptied.len();
        let &(t_last, _) = self.since_emptied.last()?;
        let nf = n as f64;
        let t_mean = self.since_emptied.iter().map(|r| r.0).sum::<f64>() / nf;
        let y_mean = self.since_emptied.iter().map(|r| r.1).sum::<f64>() / nf;
        let sxx: f64 = self
            .since_emptied
            .iter()
            .map(|r| (r.0 - t_mean).powi(2))
            .sum();
        let sxy: f64 = self
            .since_emptied
            .iter()
            .map(|r| (r.0 - t_mean) * (r.1 - y_mean))
            .sum();
        // Posterior of the slope with a normal prior and known noise (intercept free).
        let noise_var = self.noise_sd * self.noise_sd;
        let prior_var = self.prior_sd_per_h * self.prior_sd_per_h;
        let precision = 1.0 / prior_var + sxx / noise_var;
        let rate = (self.prior_rate_per_h / prior_var + sxy / noise_var) / precision;
        let rate = rate.max(0.0);
        let rate_sd = (1.0 / precision).sqrt();
        let level = (y_mean + rate * (t_last - t_mean)).clamp(0.0, 1.0);
        let to_full = |r: f64| {
            if r > 1e-9 {
                (1.0 - level) / r
            } else {
                f64::INFINITY
            }
        };
        const Z90: f64 = 1.644_854;
        Some(FillEstimate {
            rate_per_h: rate,
            rate_sd_per_h: rate_sd,
            level,
            hours_to_full: to_full(rate),
            hours_to_full_low: to_full(rate + Z90 * rate_sd),
            hours_to_full_high: to_full((rate - Z90 * rate_sd).max(0.0)),
            readings: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Hourly readings of a bin filling at `rate` per hour from `start`, with Gaussian noise.
    fn series(
        rate: f64,
        start: f64,
        hours: usize,
        noise: f64,
        rng: &mut ChaCha8Rng,
    ) -> Vec<(f64, f64)> {
        (0..hours)
            .map(|h| {
                let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                let gauss = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (
                    h as f64,
                    (start + rate * h as f64 + noise * gauss).clamp(0.0, 1.0),
                )
            })
            .collect()
    }

    #[test]
    fn known_rates_are_recovered_from_noisy_readings() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &true_rate in &[0.004, 0.01, 0.02] {
            // The prior is off by half: the data must win.
            let mut est = FillEstimator::new(true_rate * 1.5, 0.5, 0.03);
            for (t, level) in series(true_rate, 0.05, 36, 0.03, &mut rng) {
                est.apply_reading(t, level);
            }
            let e = est.estimate().unwrap();
            assert!(
                (e.rate_per_h - true_rate).abs() < 0.12 * true_rate,
                "rate {} vs {true_rate}",
                e.rate_per_h
            );
            assert!(
                e.hours_to_full_low <= e.hours_to_full && e.hours_to_full <= e.hours_to_full_high
            );
        }
    }

    #[test]
    fn emptying_is_detected_from_the_level_drop() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut est = FillEstimator::new(0.01, 0.5, 0.02);
        let before = series(0.015, 0.1, 48, 0.02, &mut rng);
        let mut emptied_at = Vec::new();
        for (t, level) in &before {
            if est.apply_reading(*t, *level) {
                emptied_at.push(*t);
            }
        }
        for (t, level) in series(0.015, 0.02, 24, 0.02, &mut rng) {
            if est.apply_reading(48.0 + t, level) {
                emptied_at.push(48.0 + t);
            }
        }
        assert_eq!(
            emptied_at,
            vec![48.0],
            "one emptying, at the first reading after it"
        );
        assert_eq!(est.emptyings(), 1);
        assert_eq!(est.estimate().unwrap().readings, 24);
    }

    #[test]
    fn the_90_percent_interval_covers_about_90_percent() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut covered, trials) = (0, 400);
        for _ in 0..trials {
            let true_rate = rng.random_range(0.003..0.02);
            let prior = true_rate * rng.random_range(0.7..1.3);
            let mut est = FillEstimator::new(prior, 0.3, 0.03);
            for (t, level) in series(true_rate, 0.05, 12, 0.03, &mut rng) {
                est.apply_reading(t, level);
            }
            let e = est.estimate().unwrap();
            let true_hours = (1.0 - (0.05 + true_rate * 11.0)) / true_rate;
            if e.hours_to_full_low <= true_hours && true_hours <= e.hours_to_full_high {
                covered += 1;
            }
        }
        let share = f64::from(covered) / f64::from(trials);
        assert!((0.8..=0.99).contains(&share), "coverage {share}");
    }

    #[test]
    fn priors_follow_stream_weekday_and_season() {
        let weekday = prior_rate_per_hour(WasteKind::Residual, 2, 3, 1.0);
        let saturday = prior_rate_per_hour(WasteKind::Residual, 5, 3, 1.0);
        assert!(saturday > weekday);
        assert!(
            prior_rate_per_hour(WasteKind::Bio, 2, 8, 1.0)
                > prior_rate_per_hour(WasteKind::Bio, 2, 1, 1.0)
        );
        assert!(prior_rate_per_hour(WasteKind::Glass, 2, 3, 1.0) < weekday);
    }
}
