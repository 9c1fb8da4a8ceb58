//! The waste model in a run: bins fill at their stream's rate, the calendar (or the
//! scenario's collection days) empties them at 06:00, and a bin that reaches full is an
//! overflow event.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Timelike};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use twin_core::CityModel;
use twin_core::entity::{Asset, WasteKind};
use twin_core::waste::fill::prior_rate_per_hour;
use twin_core::waste::policy::fixed_calendar_due;

use super::step::{Coupling, ModelStep, StepClock, add_series, set_series};
use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

struct Bins {
    kind: Vec<WasteKind>,
    rate_factor: Vec<f64>,
    neighbourhood: Vec<usize>,
    level: Vec<f64>,
    full: Vec<bool>,
}

pub(super) struct WasteStep {
    bins: Bins,
    collection_days: HashMap<WasteKind, Vec<u32>>,
    overflows: u64,
    bin_hours_full: f64,
    emptied: u64,
}

impl WasteStep {
    pub fn new(
        city: &CityModel,
        scenario: &Scenario,
        changes: &[Change],
        out: &mut RunOutput,
    ) -> WasteStep {
        let collection_days = changes
            .iter()
            .filter_map(|c| match c {
                Change::CollectionDays { stream, days } => Some((*stream, days.clone())),
                _ => None,
            })
            .collect();
        add_series(out, "bins_full", scenario.steps());
        WasteStep {
            bins: waste_bins(city, changes, scenario.seed, &scenario.initial_bin_levels),
            collection_days,
            overflows: 0,
            bin_hours_full: 0.0,
            emptied: 0,
        }
    }
}

impl ModelStep for WasteStep {
    fn step(
        &mut self,
        at: &StepClock,
        _: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let (clock, dt, weekday) = (at.clock, at.dt, at.weekday);
        let b = &mut self.bins;
        let week = clock.iso_week().week();
        let collect_now =
            clock.hour() == 6 && clock.minute() < (dt * 60.0).round() as u32 && weekday != 6;
        for i in 0..b.level.len() {
            if collect_now {
                let due = match self.collection_days.get(&b.kind[i]) {
                    Some(days) => days.contains(&weekday),
                    None => fixed_calendar_due(b.kind[i], weekday, week, b.neighbourhood[i]),
                };
                if due {
                    b.level[i] = 0.0;
                    b.full[i] = false;
                    self.emptied += 1;
                }
            }
            let rate =
                prior_rate_per_hour(b.kind[i], weekday, clock.month(), 1.0) * b.rate_factor[i];
            b.level[i] += rate * dt;
            if b.level[i] >= 1.0 {
                if !b.full[i] {
                    self.overflows += 1;
                    b.full[i] = true;
                }
                self.bin_hours_full += dt;
            }
        }
        let full = b.full.iter().filter(|f| **f).count() as f64;
        set_series(out, "bins_full", at.k, full);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("bin_overflows", self.overflows as f64);
        kpi("bin_hours_full", self.bin_hours_full);
        kpi("bins_emptied", self.emptied as f64);
    }
}

/// The city's bins in the waste model, with the scenario's added and removed bins: a removed
/// bin's waste goes to the nearest bin of its stream; added bins share their stream's waste
/// with the bins that fill fastest.
fn waste_bins(
    city: &CityModel,
    changes: &[Change],
    seed: u64,
    initial: &HashMap<usize, f64>,
) -> Bins {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xb1);
    let removed: HashSet<usize> = changes
        .iter()
        .flat_map(|c| match c {
            Change::RemoveBins(list) => list.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut entity = Vec::new();
    let mut b = Bins {
        kind: Vec::new(),
        rate_factor: Vec::new(),
        neighbourhood: Vec::new(),
        level: Vec::new(),
        full: Vec::new(),
    };
    let mut all = Vec::new();
    for (i, e) in city.entities().iter().enumerate() {
        if let Asset::WasteBin(w) = &e.asset {
            // Drawn for every bin, kept or not, so both runs see the same bins alike.
            let factor = (0.45 * twin_core::sampling::standard_normal(&mut rng) - 0.1).exp();
            let level = rng.random_range(0.0..0.6);
            all.push((i, w.stored_waste_kind, factor, level));
        }
    }
    for &(i, kind, factor, level) in &all {
        if removed.contains(&i) {
            continue;
        }
        entity.push(i);
        b.kind.push(kind);
        b.rate_factor.push(factor);
        b.neighbourhood.push(
            city.nearest_neighbourhood(city.entities()[i].location)
                .unwrap_or(0),
        );
        b.level.push(initial.get(&i).copied().unwrap_or(level));
        b.full.push(false);
    }
    for &(i, kind, factor, _) in all.iter().filter(|a| removed.contains(&a.0)) {
        let at = city.entities()[i].location;
        let nearest = (0..entity.len())
            .filter(|&k| b.kind[k] == kind)
            .min_by(|&x, &y| {
                let dx = city.entities()[entity[x]].location.distance_m(at);
                let dy = city.entities()[entity[y]].location.distance_m(at);
                dx.total_cmp(&dy)
            });
        if let Some(k) = nearest {
            b.rate_factor[k] += factor;
        }
    }
    for c in changes {
        if let Change::AddBins { stream, count } = c {
            // Each added bin halves the load of one of the fastest-filling bins of the stream.
            let mut members: Vec<usize> = (0..entity.len())
                .filter(|&k| b.kind[k] == *stream)
                .collect();
            members.sort_by(|&x, &y| b.rate_factor[y].total_cmp(&b.rate_factor[x]));
            for &k in members.iter().take(*count) {
                b.rate_factor[k] /= 2.0;
                b.kind.push(*stream);
                b.rate_factor.push(b.rate_factor[k]);
                b.neighbourhood.push(b.neighbourhood[k]);
                b.level.push(0.0);
                b.full.push(false);
                entity.push(entity[k]);
            }
        }
    }
    b
}
