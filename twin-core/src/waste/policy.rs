//! Which bins are emptied on a day: a fixed calendar, as Pitești's collection runs today, or
//! the sensor-driven policy that empties a bin when its estimated level will pass a threshold
//! before the next possible visit. Collection runs Monday to Saturday.

use crate::entity::WasteKind;

/// How bins are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Fixed,
    Dynamic,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Fixed => "fixed",
            Policy::Dynamic => "dynamic",
        }
    }

    pub fn from_name(s: &str) -> Option<Policy> {
        [Policy::Fixed, Policy::Dynamic]
            .into_iter()
            .find(|p| p.name() == s)
    }
}

/// Estimated level at the stream's next round from which the dynamic policy empties a bin now:
/// full, i.e. bins predicted to overflow before the next possible visit (docs/benchmarks.md
/// shows how km and overflows move with it).
pub const DYNAMIC_THRESHOLD: f64 = 1.0;

/// Whether trucks run on a weekday (Monday = 0): not on Sundays.
pub fn collection_day(weekday: u32) -> bool {
    weekday % 7 != 6
}

/// The fixed calendar, sized so that a typical bin does not overflow at the weekend peak (a
/// calendar has to serve the busy bins of a stream, which is what makes it over-serve the quiet
/// ones): residual and bio waste on Monday, Wednesday and Friday; paper and plastic-metal twice
/// a week (Monday and Thursday, or Tuesday and Friday, by neighbourhood); glass weekly on the
/// neighbourhood's day. `week` counts weeks from any origin; `neighbourhood` is the bin's
/// neighbourhood index.
pub fn fixed_calendar_due(
    stream: WasteKind,
    weekday: u32,
    week: u32,
    neighbourhood: usize,
) -> bool {
    let weekday = weekday % 7;
    let _ = week;
    match stream {
        WasteKind::Residual | WasteKind::Bio => matches!(weekday, 0 | 2 | 4),
        WasteKind::Paper | WasteKind::PlasticMetal => {
            if neighbourhood % 2 == 0 {
                matches!(weekday, 0 | 3)
            } else {
                matches!(weekday, 1 | 4)
            }
        }
        WasteKind::Glass => weekday == (neighbourhood % 6) as u32,
    }
}

/// The weekday names a calendar is written with (Monday = 0).
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A weekday written as `mon` … `sun` or in full (`Monday`, any case), Monday = 0.
pub fn parse_weekday(text: &str) -> Option<u32> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let t = text.trim().to_ascii_lowercase();
    (0..7)
        .find(|&d| t == WEEKDAYS[d] || t == FULL[d])
        .map(|d| d as u32)
}

/// A fixed collection calendar: [`fixed_calendar_due`] for every stream, except the streams
/// given their own weekdays (the `collection_days` intervention, `waste compare --calendar`),
/// which are collected on those days in every neighbourhood.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {
    /// Streams with their own weekdays (Monday = 0).
    pub days: std::collections::BTreeMap<WasteKind, Vec<u32>>,
}

impl Calendar {
    /// Whether a bin of `stream` in `neighbourhood` is due on `weekday` of `week`.
    pub fn due(&self, stream: WasteKind, weekday: u32, week: u32, neighbourhood: usize) -> bool {
        match self.days.get(&stream) {
            Some(days) => days.contains(&(weekday % 7)),
            None => fixed_calendar_due(stream, weekday, week, neighbourhood),
        }
    }

    /// Read `STREAM=DAY,DAY,…` (`residual=mon,wed,fri`) into the calendar. Errors name the
    /// part that is not a stream or a weekday.
    pub fn set_from_text(&mut self, text: &str) -> Result<(), String> {
        let (stream, days) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected STREAM=DAY,DAY (residual=mon,wed,fri)"))?;
        let kind = WasteKind::from_name(stream.trim()).ok_or_else(|| {
            format!("`{stream}` is not paper, plastic-metal, glass, bio or residual")
        })?;
        let days = days
            .split(',')
            .map(|d| parse_weekday(d).ok_or_else(|| format!("`{d}` is not a weekday (mon … sun)")))
            .collect::<Result<Vec<u32>, String>>()?;
        self.days.insert(kind, days);
        Ok(())
    }
}

/// The days the sensor-driven policy runs a stream's trucks, over the whole city: residual and
/// bio waste every collection day (a round takes only the bins that need it, so a daily round
/// is cheap), paper and plastic-metal on Tuesday and Friday, glass on Thursday. Monday = 0.
pub fn dynamic_round(stream: WasteKind, weekday: u32) -> bool {
    let weekday = weekday % 7;
    match stream {
        WasteKind::Residual | WasteKind::Bio => weekday < 6,
        WasteKind::Paper | WasteKind::PlasticMetal => matches!(weekday, 1 | 4),
        WasteKind::Glass => weekday == 3,
    }
}

/// Hours from a round of `stream` on `weekday` to its next round.
pub fn hours_to_next_round(stream: WasteKind, weekday: u32) -> f64 {
    (1..=7)
        .find(|d| dynamic_round(stream, weekday + d))
        .map_or(168.0, |d| f64::from(d) * 24.0)
}

/// Level at the next visit from which a bin may ride along on a trip that runs anyway.
pub const MAY_GO_LEVEL: f64 = 0.5;

/// The sensor-driven choice for one stream on one day. `outlook[k]` is bin k's estimated level
/// at the next possible visit (or `f64::INFINITY` when a citizen reported it), `load_l[k]` its
/// loose litres now. Must-go bins are those reaching `threshold`; the trips they need are then
/// filled up to 90 % of their capacity with may-go bins (outlook at least [`MAY_GO_LEVEL`]),
/// nearest to a must-go bin first (`positions[k]` is bin k's location), so a truck that drives out to the disposal site comes back full and the
/// bins it took will not need a trip of their own soon. No must-go bin: no trip.
pub fn dynamic_selection(
    outlook: &[f64],
    load_l: &[f64],
    positions: &[crate::geometry::LonLat],
    threshold: f64,
    capacity_l: f64,
) -> Vec<bool> {
    let mut chosen: Vec<bool> = outlook.iter().map(|&o| o >= threshold).collect();
    let must: f64 = load_l
        .iter()
        .zip(&chosen)
        .filter(|(_, c)| **c)
        .map(|(l, _)| l)
        .sum();
    if must <= 0.0 {
        return chosen;
    }
    let room = (must / capacity_l).ceil() * capacity_l * 0.9;
    let mut may: Vec<usize> = (0..outlook.len())
        .filter(|&k| !chosen[k] && outlook[k] >= MAY_GO_LEVEL)
        .collect();
    // Nearest to a must-go bin first: riding along costs the least there.
    let must_at: Vec<crate::geometry::LonLat> = (0..outlook.len())
        .filter(|&k| chosen[k])
        .map(|k| positions[k])
        .collect();
    let near: Vec<f64> = (0..outlook.len())
        .map(|k| {
            must_at
                .iter()
                .map(|p| p.distance_m(positions[k]))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    may.sort_by(|&a, &b| {
        near[a]
            .total_cmp(&near[b])
            .then(outlook[b].total_cmp(&outlook[a]))
    });
    let mut load = must;
    for k in may {
        if load + load_l[k] > room {
            break;
        }
        load += load_l[k];
        chosen[k] = true;
    }
    chosen
}

/// A bin as the live twin sees it, for [`choose_from_state`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinState {
    /// Entity index in the city.
    pub entity: usize,
    pub volume_l: f64,
    pub location: crate::geometry::LonLat,
    /// Last measured level (0 when never read).
    pub level: f64,
    /// Estimated fill rate, fraction of the bin per hour.
    pub rate_per_h: f64,
}

/// Why a bin is in a plan made from the live twin's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// A citizen reported it (overflowing or damaged): must go.
    Reported,
    /// Full now.
    Full,
    /// Predicted full before the stream's next round.
    PredictedFull,
    /// Not due, but near a must-go bin on a trip that runs anyway.
    RidesAlong,
}

impl Choice {
    pub fn name(self) -> &'static str {
        match self {
            Choice::Reported => "reported",
            Choice::Full => "full",
            Choice::PredictedFull => "predicted_full",
            Choice::RidesAlong => "rides_along",
        }
    }
}

/// The sensor-driven choice for one stream's round from live bin states: bins that are full,
/// predicted full within `horizon_h` (the time to the stream's next round), or reported by a
/// citizen must go; trips are filled as in [`dynamic_selection`]. Returns, per bin, why it is
/// chosen, or None.
pub fn choose_from_state(
    bins: &[BinState],
    reported: &std::collections::HashSet<usize>,
    horizon_h: f64,
    capacity_l: f64,
) -> Vec<Option<Choice>> {
    let outlook: Vec<f64> = bins
        .iter()
        .map(|b| {
            if reported.contains(&b.entity) {
                f64::INFINITY
            } else {
                b.level + b.rate_per_h.max(0.0) * horizon_h
            }
        })
        .collect();
    let load: Vec<f64> = bins
        .iter()
        .map(|b| b.volume_l * b.level.clamp(0.0, super::fill::SIDE_WASTE_LIMIT))
        .collect();
    let at: Vec<crate::geometry::LonLat> = bins.iter().map(|b| b.location).collect();
    let chosen = dynamic_selection(&outlook, &load, &at, DYNAMIC_THRESHOLD, capacity_l);
    bins.iter()
        .zip(chosen)
        .zip(&outlook)
        .map(|((b, c), &o)| {
            c.then(|| {
                if reported.contains(&b.entity) {
                    Choice::Reported
                } else if b.level >= crate::live::BIN_FULL_LEVEL {
                    Choice::Full
                } else if o >= DYNAMIC_THRESHOLD {
                    Choice::PredictedFull
                } else {
                    Choice::RidesAlong
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_bin_goes_first_even_when_its_sensor_says_it_is_not_due() {
        let at = |x: f64| crate::geometry::LonLat::new(24.86 + x, 44.86);
        let bin = |entity: usize, level: f64, rate: f64, x: f64| BinState {
            entity,
            volume_l: 1_100.0,
            location: at(x),
            level,
            rate_per_h: rate,
        };
        let bins = [
            bin(10, 0.97, 0.01, 0.0),
            bin(11, 0.5, 0.03, 0.01),
            bin(12, 0.1, 0.001, 0.02),
            bin(13, 0.55, 0.001, 0.0001),
            bin(14, 0.2, 0.001, 0.05),
        ];
        let none = std::collections::HashSet::new();
        let choice = choose_from_state(&bins, &none, 24.0, 20_000.0);
        assert_eq!(
            choice,
            [
                Some(Choice::Full),
                Some(Choice::PredictedFull),
                None,
                Some(Choice::RidesAlong),
                None
            ]
        );
        // A citizen reports bin 14 (a damaged lid, say): it must go, whatever its level.
        let reported = std::collections::HashSet::from([14]);
        let choice = choose_from_state(&bins, &reported, 24.0, 20_000.0);
        assert_eq!(choice[4], Some(Choice::Reported));
        // Nothing due and nothing reported: no round at all.
        let quiet = [bin(12, 0.1, 0.001, 0.0)];
        assert_eq!(choose_from_state(&quiet, &none, 24.0, 20_000.0), [None]);
    }

    #[test]
    fn a_calendar_gives_streams_their_own_days() {
        let mut c = Calendar::default();
        c.set_from_text("glass=tue,Friday").unwrap();
        assert!(c.due(WasteKind::Glass, 1, 0, 0) && c.due(WasteKind::Glass, 4, 0, 3));
        assert!(!c.due(WasteKind::Glass, 0, 0, 0));
        assert_eq!(
            c.due(WasteKind::Residual, 2, 0, 0),
            fixed_calendar_due(WasteKind::Residual, 2, 0, 0)
        );
        assert!(c.set_from_text("glas=mon").unwrap_err().contains("`glas`"));
        assert!(
            c.set_from_text("glass=moon")
                .unwrap_err()
                .contains("`moon`")
        );
        assert!(c.set_from_text("glass=xyz").unwrap_err().contains("`xyz`"));
        assert!(c.set_from_text("glass").is_err());
    }

    #[test]
    fn the_calendar_visits_each_stream_as_often_as_it_says() {
        for stream in WasteKind::ALL {
            for nbh in 0..12 {
                let visits: usize = (0..2)
                    .flat_map(|week| (0..7).map(move |d| (week, d)))
                    .filter(|&(w, d)| collection_day(d) && fixed_calendar_due(stream, d, w, nbh))
                    .count();
                let expected = match stream {
                    WasteKind::Residual | WasteKind::Bio => 6,
                    WasteKind::Paper | WasteKind::PlasticMetal => 4,
                    WasteKind::Glass => 2,
                };
                assert_eq!(visits, expected, "{stream:?} in neighbourhood {nbh}");
            }
        }
    }

    #[test]
    fn trips_are_filled_up_with_the_most_urgent_may_go_bins() {
        let outlook = [0.95, 0.7, 0.6, 0.4, 0.99];
        let load = [500.0, 500.0, 500.0, 500.0, 500.0];
        // Two must-go bins (1,000 l); one trip of 2,000 l has room for one more at 90 %.
        let at = |x: f64| crate::geometry::LonLat::new(24.86 + x, 44.86);
        // Bin 2 stands next to a must-go bin, bin 1 far away: bin 2 rides along.
        let positions = [at(0.0), at(0.05), at(0.0001), at(0.0), at(0.01)];
        let chosen = dynamic_selection(&outlook, &load, &positions, 0.9, 2_000.0);
        assert_eq!(chosen, [true, false, true, false, true]);
        // Nothing due: no trip at all.
        assert_eq!(
            dynamic_selection(&[0.7, 0.6], &[500.0, 500.0], &positions[..2], 0.9, 2_000.0),
            [false, false]
        );
    }

    #[test]
    fn rounds_and_their_horizons() {
        assert_eq!(hours_to_next_round(WasteKind::Residual, 4), 24.0);
        assert_eq!(hours_to_next_round(WasteKind::Residual, 5), 48.0);
        assert_eq!(hours_to_next_round(WasteKind::Glass, 3), 168.0);
        assert_eq!(hours_to_next_round(WasteKind::Paper, 1), 72.0);
        assert!(!dynamic_round(WasteKind::Paper, 0));
    }

    #[test]
    fn no_collection_on_sundays() {
        assert!(collection_day(5));
        assert!(!collection_day(6));
    }
}
