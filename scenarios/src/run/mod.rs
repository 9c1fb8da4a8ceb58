//! The runner: the city's models advanced together on a simulated clock, once as the baseline
//! and once with the scenario's changes, on the same seed, and the differences.
//!
//! Each step (15 minutes by default):
//! - **traffic**: the street network's equilibrium at the hour's demand level (the daily curve
//!   rounded to one of five levels of the morning peak), with the closures and capacity changes
//!   active then; assignments are cached by (network state, level), so a day costs a handful;
//! - **power**: every post's load from its daily profile (× any demand change) plus the EV
//!   charging on it, failed elements out (and, after the switching time, tie switches closed as
//!   the restoration found), the 20 kV load flow; de-energised posts give customers
//!   interrupted, customer-minutes and energy not supplied; overloaded lines and posts are
//!   counted in hours;
//! - **water**: a broken pipe is isolated by its valves when it breaks (junctions without water,
//!   junctions below service pressure after the re-solve), counted in junction-hours while it
//!   lasts;
//! - **waste**: bins fill at their stream's rate, the calendar (or the scenario's days) empties
//!   them at 06:00, full bins are overflow events;
//! - **EV**: the EV model's sessions on the city's chargers and homes (`twin_core::ev`).
//!
//! Each model lives in its own module behind one small interface ([`step::ModelStep`]): built
//! for a run, stepped on the clock, asked for its KPIs at the end.

mod ev;
mod power;
mod step;
mod traffic;
mod waste;
mod water;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use twin_core::CityModel;
use twin_core::ev::calibration::DemandFit;

use crate::file::{Change, Model, Scenario};
use ev::EvStep;
use power::PowerStep;
use step::{ModelStep, StepClock};
use traffic::{TrafficCache, TrafficStep};
use waste::WasteStep;
use water::WaterStep;

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("traffic: {0}")]
    Traffic(String),
    #[error("power: {0}")]
    Power(String),
    #[error("water: {0}")]
    Water(String),
    #[error("waste: {0}")]
    Waste(String),
    #[error("the EV model needs the charging sessions it is calibrated on: {0}")]
    Ev(String),
}

/// One run's results: KPIs by name, a time series per quantity, and per-street delay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    pub kpis: BTreeMap<String, f64>,
    /// Per step, by series name.
    pub series: BTreeMap<String, Vec<f64>>,
    /// Vehicle-minutes spent on each street segment (entity index) over the run.
    pub street_vehicle_minutes: HashMap<usize, f64>,
    /// Hours each transformer post was without power and each water junction without water
    /// (entity index), over the run.
    pub supply_lost_h: HashMap<usize, f64>,
}

/// A post or junction whose hours without supply the scenario changed, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedPlace {
    pub place: twin_core::places::Place,
    /// `power` (a transformer post) or `water` (a junction).
    pub network: &'static str,
    /// Customers of a post; none for a junction.
    pub customers: Option<u32>,
    pub baseline_h: f64,
    pub scenario_h: f64,
}

/// A street whose traffic changed most.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedStreet {
    pub id: String,
    pub name: Option<String>,
    pub baseline_vehicle_h: f64,
    pub scenario_vehicle_h: f64,
}

/// Baseline against scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub baseline: RunOutput,
    pub scenario: RunOutput,
    /// scenario − baseline, by KPI name.
    pub difference: BTreeMap<String, f64>,
    /// Up to [`AFFECTED_STREETS`] streets that lose the most vehicle-hours (most first), then
    /// up to as many that gain the most (most first).
    pub most_affected_streets: Vec<AffectedStreet>,
    /// Posts and junctions whose hours without supply changed most (at most
    /// [`AFFECTED_PLACES`]), largest change first.
    pub affected_places: Vec<AffectedPlace>,
    /// Step start times.
    pub times: Vec<NaiveDateTime>,
    pub seconds: f64,
}

/// Run the scenario and its baseline. `progress(done, total)` counts steps of both runs.
pub fn run_scenario(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Comparison, RunError> {
    let steps = scenario.steps();
    let baseline = run_baseline(city, scenario, fit, &|k| progress(k, 2 * steps))?;
    run_against(city, scenario, fit, baseline, &|k| {
        progress(steps + k, 2 * steps)
    })
}

/// The baseline of a scenario: the same city, clock, seed and models without its changes.
pub fn run_baseline(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    progress: &dyn Fn(usize),
) -> Result<RunOutput, RunError> {
    run_once(
        city,
        scenario,
        &[],
        fit,
        &mut TrafficCache::default(),
        progress,
    )
}

/// What makes two scenarios share a baseline: everything but their changes.
pub fn baseline_key(s: &Scenario) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}|{:?}|{}|{}",
        s.city_label(),
        s.start,
        s.horizon_h,
        s.step_h,
        s.seed,
        s.models,
        s.kpis,
        s.ev_share.map_or("city".to_string(), |x| x.to_string()),
        s.initial_bin_levels.len()
    )
}

/// Run a scenario against a baseline already run (batches and sweeps share one).
pub fn run_against(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    baseline: RunOutput,
    progress: &dyn Fn(usize),
) -> Result<Comparison, RunError> {
    let started = std::time::Instant::now();
    let steps = scenario.steps();
    let changed = run_once(
        city,
        scenario,
        &scenario.changes,
        fit,
        &mut TrafficCache::default(),
        progress,
    )?;
    let difference = baseline
        .kpis
        .iter()
        .filter_map(|(k, b)| Some((k.clone(), changed.kpis.get(k)? - b)))
        .collect();
    let mut streets: Vec<AffectedStreet> = baseline
        .street_vehicle_minutes
        .keys()
        .chain(changed.street_vehicle_minutes.keys())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|&s| {
            let e = &city.entities()[s];
            AffectedStreet {
                id: e.id.to_string(),
                name: e.name.clone(),
                baseline_vehicle_h: baseline
                    .street_vehicle_minutes
                    .get(&s)
                    .copied()
                    .unwrap_or(0.0)
                    / 60.0,
                scenario_vehicle_h: changed
                    .street_vehicle_minutes
                    .get(&s)
                    .copied()
                    .unwrap_or(0.0)
                    / 60.0,
            }
        })
        .collect();
    // The five streets that lose the most vehicle-hours, then the five that gain the most (where
    // the traffic goes): a closure's detours are as much its effect as the closed street.
    let change = |a: &AffectedStreet| a.scenario_vehicle_h - a.baseline_vehicle_h;
    streets.retain(|a| change(a).abs() > 1e-6);
    streets.sort_by(|a, b| change(a).total_cmp(&change(b)).then(a.id.cmp(&b.id)));
    let losses = streets
        .iter()
        .take_while(|a| change(a) < 0.0)
        .take(AFFECTED_STREETS);
    let gains = streets
        .iter()
        .rev()
        .take_while(|a| change(a) > 0.0)
        .take(AFFECTED_STREETS);
    let streets: Vec<AffectedStreet> = losses.chain(gains).cloned().collect();
    let affected_places = affected_places(city, &baseline, &changed);
    let times = (0..steps)
        .map(|k| {
            scenario.start + Duration::seconds((k as f64 * scenario.step_h * 3600.0).round() as i64)
        })
        .collect();
    Ok(Comparison {
        baseline,
        scenario: changed,
        difference,
        most_affected_streets: streets,
        affected_places,
        times,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How many streets losing traffic, and how many gaining it, a comparison lists.
pub const AFFECTED_STREETS: usize = 5;

/// How many posts and junctions a comparison lists.
pub const AFFECTED_PLACES: usize = 20;

/// The posts and junctions whose hours without supply differ between the runs.
fn affected_places(
    city: &CityModel,
    baseline: &RunOutput,
    changed: &RunOutput,
) -> Vec<AffectedPlace> {
    let hours = |run: &RunOutput, e: usize| run.supply_lost_h.get(&e).copied().unwrap_or(0.0);
    let mut places: Vec<AffectedPlace> = baseline
        .supply_lost_h
        .keys()
        .chain(changed.supply_lost_h.keys())
        .collect::<HashSet<_>>()
        .into_iter()
        .filter(|&&e| (hours(changed, e) - hours(baseline, e)).abs() > 1e-9)
        .map(|&e| {
            let (network, customers) = match &city.entities()[e].asset {
                twin_core::Asset::TransformerPost(t) => ("power", Some(t.customers)),
                _ => ("water", None),
            };
            AffectedPlace {
                place: city.place_of(e),
                network,
                customers,
                baseline_h: hours(baseline, e),
                scenario_h: hours(changed, e),
            }
        })
        .collect();
    let change = |a: &AffectedPlace| (a.scenario_h - a.baseline_h).abs();
    places.sort_by(|a, b| {
        change(b)
            .total_cmp(&change(a))
            .then(b.customers.cmp(&a.customers))
            .then(a.place.id.cmp(&b.place.id))
    });
    places.truncate(AFFECTED_PLACES);
    places
}

/// One run of the models over the scenario's steps with `changes` applied (none for the
/// baseline).
fn run_once(
    city: &CityModel,
    scenario: &Scenario,
    changes: &[Change],
    fit: Option<&DemandFit>,
    cache: &mut TrafficCache,
    progress: &dyn Fn(usize),
) -> Result<RunOutput, RunError> {
    let steps = scenario.steps();
    let mut out = RunOutput::default();
    // In the order they step: the EV model hands the power model its charging.
    let mut models: Vec<Box<dyn ModelStep + '_>> = Vec::new();
    if scenario.runs(Model::Ev) {
        models.push(Box::new(EvStep::new(
            city, scenario, changes, fit, &mut out,
        )?));
    }
    if scenario.runs(Model::Power) {
        models.push(Box::new(PowerStep::new(city, changes, steps, &mut out)?));
    }
    if scenario.runs(Model::Water) {
        models.push(Box::new(WaterStep::new(
            city, scenario, changes, steps, &mut out,
        )?));
    }
    if scenario.runs(Model::Waste) {
        models.push(Box::new(WasteStep::new(city, scenario, changes, &mut out)?));
    }
    if scenario.runs(Model::Traffic) {
        models.push(Box::new(TrafficStep::new(
            city, changes, cache, steps, &mut out,
        )));
    }
    for k in 0..steps {
        let at = StepClock::of(scenario, k);
        let mut coupling = step::Coupling::default();
        for model in &mut models {
            model.step(&at, &mut coupling, &mut out)?;
        }
        progress(k + 1);
    }
    for model in models {
        model.finish(&mut out);
    }
    if let Some(kpis) = &scenario.kpis {
        out.kpis.retain(|k, _| kpis.iter().any(|x| x == k));
    }
    Ok(out)
}
