//! Daily demand profiles of the city: street traffic, household and commercial electricity,
//! water. Each is relative to its peak (or, for water, to the mean day) by hour of day (0–24,
//! fractional). Shared by the live twin's simulated feed, the EV study and scenarios, so that
//! every model sees the same city day.

use crate::entity::TransformerPost;

fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    (-((hour - centre) / width).powi(2)).exp()
}

/// Street traffic relative to the daily peak hour (two peaks, a quiet night).
pub fn traffic_curve(hour: f64) -> f64 {
    (0.08
        + 0.92 * bump(hour, 7.8, 1.3).max(0.95 * bump(hour, 17.0, 1.6))
        + 0.45 * bump(hour, 12.5, 3.0))
    .min(1.0)
}

/// Household load relative to its peak (evening peak, morning shoulder).
pub fn household_curve(hour: f64) -> f64 {
    0.35 + 0.25 * bump(hour, 7.5, 1.5) + 0.65 * bump(hour, 19.5, 2.0)
}

/// Commercial load relative to its peak (office hours).
pub fn commercial_curve(hour: f64) -> f64 {
    0.3 + 0.7 * bump(hour, 13.0, 3.5)
}

/// Water demand relative to the mean day (morning and evening peaks).
pub fn water_curve(hour: f64) -> f64 {
    0.45 + 0.9 * bump(hour, 7.5, 1.8) + 0.6 * bump(hour, 20.0, 2.2)
}

/// Whether a transformer post mostly serves shops and offices: few customers per kVA.
pub fn is_commercial(post: &TransformerPost) -> bool {
    (post.customers as f64) < post.rated_kva * 0.3
}

/// A post's expected load at `hour` (kW, kvar), its peak demand shaped by its curve.
pub fn post_load(post: &TransformerPost, hour: f64) -> (f64, f64) {
    let curve = if is_commercial(post) {
        commercial_curve(hour)
    } else {
        household_curve(hour)
    };
    (post.peak_kw * curve, post.peak_kvar * curve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_peak_where_the_city_does() {
        assert!(household_curve(19.5) > household_curve(3.0) * 2.0);
        assert!(commercial_curve(13.0) > commercial_curve(2.0) * 2.5);
        assert!(traffic_curve(8.0) > 0.9 && traffic_curve(17.0) > 0.85);
        assert!(traffic_curve(3.0) < 0.15);
        assert!(water_curve(7.5) > water_curve(3.0) * 2.0);
        // Every curve stays positive and at most its peak (water: about twice the mean).
        for h in (0..96).map(|q| f64::from(q) / 4.0) {
            for v in [household_curve(h), commercial_curve(h), traffic_curve(h)] {
                assert!(v > 0.0 && v <= 1.0 + 1e-9, "{h}: {v}");
            }
            assert!(water_curve(h) > 0.0 && water_curve(h) < 2.0);
        }
    }
}
