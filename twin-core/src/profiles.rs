//! Daily demand profiles of the city: street traffic by day type, household and commercial
//! electricity. Each is relative to its peak by hour of day (0–24, fractional). Water demand
//! is not here: it is the hydraulic model's own patterns (`water::model::HydModel::demand_at`).
//! Shared by the live twin's simulated feed, the EV study and scenarios, so that every model
//! sees the same city day.

use crate::entity::TransformerPost;

fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    (-((hour - centre) / width).powi(2)).exp()
}

/// The kind of day a demand profile follows: people drive, shop and use water differently on
/// working days, Saturdays and Sundays (public holidays count as Sundays where a caller knows
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayType {
    Weekday,
    Saturday,
    Sunday,
}

impl DayType {
    /// The day type of a day of the week counted from Monday = 0 (chrono's
    /// `num_days_from_monday`); values past 6 wrap around.
    pub fn from_weekday(weekday_from_monday: u32) -> DayType {
        match weekday_from_monday % 7 {
            5 => DayType::Saturday,
            6 => DayType::Sunday,
            _ => DayType::Weekday,
        }
    }

    /// The name used in reports: "weekday", "Saturday", "Sunday".
    pub fn name(self) -> &'static str {
        match self {
            DayType::Weekday => "weekday",
            DayType::Saturday => "Saturday",
            DayType::Sunday => "Sunday",
        }
    }
}

/// Street traffic at `hour` (local time, 0–24, fractional) on a day of type `day`, relative to
/// a working day's morning peak hour (1.0, the hour the traffic model's demand is built for).
///
/// Working days: a morning commute peak at 07:50, an evening one at 17:00 (95 %), a midday
/// plateau of errands and deliveries, a quiet night (8 %). Saturdays: no commute, a broad
/// shopping peak around 11:30 and a smaller evening one (a day's volume about 80 % of a working
/// day's). Sundays: late and low, an afternoon peak (about 65 % of a working day's volume).
/// The shapes are synthetic: no published hourly counts of Pitești exist; the weekend ratios are
/// those typical of urban count stations (day-of-week factors as in the FHWA *Traffic Monitoring
/// Guide*, 2022, ch. 3). Smooth in `hour` (sums and maxima of Gaussian bumps), so a run's
/// demand has no steps.
pub fn traffic_curve(day: DayType, hour: f64) -> f64 {
    let v = match day {
        DayType::Weekday => {
            0.08 + 0.92 * bump(hour, 7.8, 1.3).max(0.95 * bump(hour, 17.0, 1.6))
                + 0.45 * bump(hour, 12.5, 3.0)
        }
        DayType::Saturday => 0.07 + 0.75 * bump(hour, 11.5, 3.0) + 0.4 * bump(hour, 18.0, 2.0),
        DayType::Sunday => 0.06 + 0.5 * bump(hour, 13.0, 3.5) + 0.35 * bump(hour, 18.5, 2.0),
    };
    v.min(1.0)
}

/// Household load relative to its peak (evening peak, morning shoulder).
pub fn household_curve(hour: f64) -> f64 {
    0.35 + 0.25 * bump(hour, 7.5, 1.5) + 0.65 * bump(hour, 19.5, 2.0)
}

/// Commercial load relative to its peak (office hours).
pub fn commercial_curve(hour: f64) -> f64 {
    0.3 + 0.7 * bump(hour, 13.0, 3.5)
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
        let weekday = |h| traffic_curve(DayType::Weekday, h);
        assert!(weekday(8.0) > 0.9 && weekday(17.0) > 0.85);
        assert!(weekday(3.0) < 0.15);
        // Every curve stays positive and at most its peak.
        for h in (0..96).map(|q| f64::from(q) / 4.0) {
            let traffic =
                [DayType::Weekday, DayType::Saturday, DayType::Sunday].map(|d| traffic_curve(d, h));
            for v in [household_curve(h), commercial_curve(h)]
                .into_iter()
                .chain(traffic)
            {
                assert!(v > 0.0 && v <= 1.0 + 1e-9, "{h}: {v}");
            }
        }
    }

    /// A day's traffic volume: the curve's integral over 24 h, by quarter hours.
    fn daily_volume(day: DayType) -> f64 {
        (0..96)
            .map(|q| traffic_curve(day, (f64::from(q) + 0.5) / 4.0) / 4.0)
            .sum()
    }

    #[test]
    fn weekends_drive_less_and_later() {
        let weekday = daily_volume(DayType::Weekday);
        let saturday = daily_volume(DayType::Saturday) / weekday;
        let sunday = daily_volume(DayType::Sunday) / weekday;
        assert!((0.75..0.85).contains(&saturday), "Saturday {saturday}");
        assert!((0.58..0.72).contains(&sunday), "Sunday {sunday}");
        // No commute: the weekend mornings are quiet, the peaks come at midday or later.
        for day in [DayType::Saturday, DayType::Sunday] {
            assert!(traffic_curve(day, 7.8) < 0.5 * traffic_curve(DayType::Weekday, 7.8));
            let peak = (0..96)
                .map(|q| f64::from(q) / 4.0)
                .max_by(|a, b| traffic_curve(day, *a).total_cmp(&traffic_curve(day, *b)))
                .unwrap_or(0.0);
            assert!((11.0..16.0).contains(&peak), "{day:?} peaks at {peak}");
        }
        assert_eq!(DayType::from_weekday(5), DayType::Saturday);
        assert_eq!(DayType::from_weekday(6), DayType::Sunday);
        assert_eq!(DayType::from_weekday(0), DayType::Weekday);
    }

    #[test]
    fn traffic_curves_have_no_steps() {
        // Over a minute, no curve moves by more than its steepest smooth slope allows: a bump
        // a·exp(−((h − c)/w)²) rises at most a·√2/(w·√e) per hour, 0.61 per hour (0.0101 per
        // minute) for the working day's morning ramp. A step between demand levels (0.125 to
        // 0.25 at once) would break this bound by ten times.
        for day in [DayType::Weekday, DayType::Saturday, DayType::Sunday] {
            for m in 0..(24 * 60) {
                let h = f64::from(m) / 60.0;
                let step = (traffic_curve(day, h + 1.0 / 60.0) - traffic_curve(day, h)).abs();
                assert!(step < 0.0105, "{day:?} at {h}: {step}");
            }
        }
    }
}
