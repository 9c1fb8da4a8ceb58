//! The waste model in a run: the one `twin waste compare` runs (`twin_core::waste::simulate`).
//! The city's bins with their seeded fill factors (stream, weekday, season, neighbourhood, the
//! bin's own) fill step by step; at 06:00 on collection days the fixed calendar (or the
//! scenario's collection days) makes bins due, the day's routes are planned for every stream
//! and the bins the trucks reach are emptied; km, fuel and CO2 are the routes'. A bin that
//! reaches full is an overflow event. With the same seed and start, a scenario with no waste
//! change gives `twin waste compare`'s fixed-calendar figures.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Timelike};
use twin_core::CityModel;
use twin_core::entity::WasteKind;
use twin_core::waste::collection::{CO2_KG_PER_L_DIESEL, CollectionNetwork};
use twin_core::waste::policy::collection_day;
use twin_core::waste::simulate::{
    BinLevels, COLLECTION_HOUR, SimBin, WasteStudy, city_bins, collect_round, initial_levels,
};

use super::step::{Coupling, ModelStep, StepClock, add_series, set_series};
use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

pub(super) struct WasteStep {
    bins: Vec<SimBin>,
    levels: BinLevels,
    networks: Vec<(WasteKind, CollectionNetwork)>,
    /// The study's settings (fleet, routing effort, seed) the rounds run with.
    study: WasteStudy,
    emptied: u64,
    km: f64,
    /// Stream-days no route plan was found for (nothing of the stream collected that day).
    uncollected_rounds: usize,
}

impl WasteStep {
    pub fn new(
        city: &CityModel,
        scenario: &Scenario,
        changes: &[Change],
        out: &mut RunOutput,
    ) -> Result<WasteStep, RunError> {
        let networks = twin_core::waste::simulate::stream_networks(city)
            .map_err(|e| RunError::Waste(e.to_string()))?;
        let mut study = WasteStudy::new(scenario.start.date(), 1);
        study.seed = scenario.seed;
        for c in changes {
            if let Change::CollectionDays { stream, days } = c {
                study.calendar.days.insert(*stream, days.clone());
            }
        }
        let (bins, levels) =
            scenario_bins(city, changes, scenario.seed, &scenario.initial_bin_levels);
        add_series(out, "bins_full", scenario.steps());
        Ok(WasteStep {
            bins,
            levels: BinLevels::new(levels),
            networks,
            study,
            emptied: 0,
            km: 0.0,
            uncollected_rounds: 0,
        })
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
        let round_now = clock.hour() == COLLECTION_HOUR
            && clock.minute() < (dt * 60.0).round() as u32
            && collection_day(weekday);
        if round_now {
            let week = clock.iso_week().week();
            let due: Vec<bool> = self
                .bins
                .iter()
                .map(|b| {
                    self.study
                        .calendar
                        .due(b.kind, weekday, week, b.neighbourhood)
                })
                .collect();
            let day = (clock.date() - self.study.start).num_days().max(0) as u32;
            let round = collect_round(
                &self.networks,
                &self.bins,
                &mut self.levels,
                &due,
                &self.study.fleet,
                self.study.seed,
                day,
                self.study.iterations_per_bin,
                &clock.date().to_string(),
            );
            self.km += round.km;
            self.emptied += round.bins_emptied;
            self.uncollected_rounds += round.failed.len();
        }
        self.levels.fill(&self.bins, weekday, clock.month(), dt);
        set_series(out, "bins_full", at.k, self.levels.full_count() as f64);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let fuel_l = self.km * self.study.fleet.fuel_l_per_km;
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("bin_overflows", self.levels.overflow_events as f64);
        kpi("bin_hours_full", self.levels.bin_hours_full);
        kpi("bins_emptied", self.emptied as f64);
        kpi("collection_km", self.km);
        kpi("collection_fuel_l", fuel_l);
        kpi("collection_co2_kg", fuel_l * CO2_KG_PER_L_DIESEL);
        kpi("collection_rounds_failed", self.uncollected_rounds as f64);
    }
}

/// The city's bins in the waste model with the scenario's added and removed bins, and their
/// starting levels (seeded; a snapshot's where it gives one). A removed bin's waste goes to the
/// nearest bin of its stream; added bins share their stream's waste with the bins that fill
/// fastest.
fn scenario_bins(
    city: &CityModel,
    changes: &[Change],
    seed: u64,
    initial: &HashMap<usize, f64>,
) -> (Vec<SimBin>, Vec<f64>) {
    let all = city_bins(city, seed);
    let seeded = initial_levels(&all, seed);
    let removed: HashSet<usize> = changes
        .iter()
        .flat_map(|c| match c {
            Change::RemoveBins(list) => list.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut bins: Vec<SimBin> = Vec::new();
    let mut levels: Vec<f64> = Vec::new();
    for (b, &level) in all.iter().zip(&seeded) {
        if removed.contains(&b.entity) {
            continue;
        }
        levels.push(initial.get(&b.entity).copied().unwrap_or(level));
        bins.push(b.clone());
    }
    for gone in all.iter().filter(|b| removed.contains(&b.entity)) {
        let at = city.entities()[gone.entity].location;
        let nearest = (0..bins.len())
            .filter(|&k| bins[k].kind == gone.kind)
            .min_by(|&x, &y| {
                let dx = city.entities()[bins[x].entity].location.distance_m(at);
                let dy = city.entities()[bins[y].entity].location.distance_m(at);
                dx.total_cmp(&dy)
            });
        if let Some(k) = nearest {
            bins[k].factor += gone.factor;
        }
    }
    for c in changes {
        if let Change::AddBins { stream, count } = c {
            // Each added bin halves the load of one of the fastest-filling bins of the stream.
            let mut members: Vec<usize> = (0..bins.len())
                .filter(|&k| bins[k].kind == *stream)
                .collect();
            members.sort_by(|&x, &y| bins[y].factor.total_cmp(&bins[x].factor));
            for &k in members.iter().take(*count) {
                bins[k].factor /= 2.0;
                bins.push(bins[k].clone());
                levels.push(0.0);
            }
        }
    }
    (bins, levels)
}
