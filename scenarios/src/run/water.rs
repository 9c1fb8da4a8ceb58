//! The water model in a run: the city's demand is the hydraulic model's (the bundle's EPANET
//! file: each junction's demand categories, patterns and multiplier, as `twin solve water`
//! computes it). A broken pipe is isolated by its valves when it breaks and the network
//! re-solved with the demands of that hour beside the intact network, so that only what the
//! break changes is booked to it: junctions it leaves without water, junctions it takes below
//! service pressure (those already below it intact are reported apart, in the baseline too),
//! counted in junction-hours while it lasts, and the junctions whose water degrades with it
//! (older water, chlorine below the residual).

use chrono::Timelike;
use twin_core::CityModel;
use twin_core::entity::Asset;
use twin_core::kpi::LOW_PRESSURE_M;
use twin_core::water::HydModel;
use twin_core::water::solver::simulate_model;

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use super::{RunError, RunOutput};
use crate::file::{Change, Scenario};

struct WaterEvent {
    from_h: f64,
    to_h: f64,
    /// Model nodes of the junctions the break leaves without water.
    without_supply: Vec<usize>,
    /// The same junctions as entity indices of the city.
    junction_entities: Vec<usize>,
    /// Junctions the break takes below service pressure.
    deficient: usize,
    /// Supplied junctions whose water degrades (older, or chlorine below the residual).
    degraded: usize,
}

pub(super) struct WaterStep<'a> {
    changes: &'a [Change],
    /// The bundle's hydraulic model (its demands).
    model: Option<HydModel>,
    /// Seconds from the start date's midnight to the scenario's start (model time 0 is a
    /// midnight).
    start_s: f64,
    events: Vec<WaterEvent>,
    demand_m3: f64,
    lost_m3: f64,
    dry_h: f64,
    deficit_h: f64,
    max_dry: usize,
    max_deficient: usize,
    max_degraded: usize,
    /// Junctions below service pressure in the intact network at the day's peak demand.
    low_intact: usize,
}

impl<'a> WaterStep<'a> {
    pub fn new(
        city: &CityModel,
        scenario: &Scenario,
        changes: &'a [Change],
        steps: usize,
        out: &mut RunOutput,
    ) -> Result<WaterStep<'a>, RunError> {
        let start_s = f64::from(scenario.start.num_seconds_from_midnight());
        let model = match &city.water_network {
            Some(net) => {
                Some(HydModel::from_epanet(net).map_err(|e| RunError::Water(e.to_string()))?)
            }
            None => None,
        };
        let mut events = Vec::new();
        for c in changes {
            let Change::Fail {
                elements, window, ..
            } = c
            else {
                continue;
            };
            for &p in elements
                .iter()
                .filter(|&&e| matches!(city.entities()[e].asset, Asset::Pipe(_)))
            {
                let (Some(net), Some(m)) = (city.water_network.as_ref(), model.as_ref()) else {
                    return Err(RunError::Water("the city has no water network".into()));
                };
                let at_s = (start_s + window.from_h * 3600.0).round() as u64;
                let pipe = city.entities()[p].source_id.as_deref().ok_or_else(|| {
                    RunError::Water(format!("{} is not an EPANET pipe", city.entities()[p].id))
                })?;
                let b = twin_core::water::isolation::isolate_pipe_break(
                    net,
                    &city.water_valves,
                    pipe,
                    LOW_PRESSURE_M,
                    at_s,
                )
                .map_err(|e| RunError::Water(e.to_string()))?;
                events.push(WaterEvent {
                    from_h: window.from_h,
                    to_h: window.to_h,
                    without_supply: b
                        .without_supply
                        .iter()
                        .filter_map(|j| m.node_index(j))
                        .collect(),
                    junction_entities: b
                        .without_supply
                        .iter()
                        .filter_map(|j| city.water_ids.node(j))
                        .filter_map(|id| city.entity_index(id))
                        .collect(),
                    deficient: b.pressure_deficient.len(),
                    degraded: b.quality_degraded.len(),
                });
            }
        }
        let low_intact = match &model {
            Some(m) => junctions_below_service_at_peak(m)?,
            None => 0,
        };
        add_series(out, "junctions_without_water", steps);
        Ok(WaterStep {
            changes,
            model,
            start_s,
            events,
            demand_m3: 0.0,
            lost_m3: 0.0,
            dry_h: 0.0,
            deficit_h: 0.0,
            max_dry: 0,
            max_deficient: 0,
            max_degraded: 0,
            low_intact,
        })
    }
}

/// Junctions below the service pressure in the intact network with the demands of the day's
/// peak hour.
fn junctions_below_service_at_peak(m: &HydModel) -> Result<usize, RunError> {
    let mut peak = m.clone();
    peak.start_patterns_at(m.peak_demand_time_s());
    let snapshot = simulate_model(&peak, Some(0))
        .map_err(|e| RunError::Water(e.to_string()))?
        .remove(0);
    Ok((0..m.node_ids.len())
        .filter(|&i| m.kind[i] == twin_core::water::model::NodeKind::Junction)
        .filter(|&i| snapshot.pressure_m[i] < LOW_PRESSURE_M)
        .count())
}

impl ModelStep for WaterStep<'_> {
    fn step(
        &mut self,
        at: &StepClock,
        _: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let (h, dt) = (at.h, at.dt);
        let Some(m) = &self.model else {
            return Ok(());
        };
        let factor = demand_factor(self.changes, h, &|c| {
            matches!(c, Change::Demand { water: true, .. })
        });
        // The model's demands in the pattern period holding the step's middle.
        let t = (self.start_s + (h + dt / 2.0) * 3600.0) as u64;
        let seconds = dt * 3600.0;
        self.demand_m3 += m.system_demand_m3s_at(t) * factor * seconds;
        let (mut dry, mut deficient, mut degraded) = (0, 0, 0);
        for w in self.events.iter().filter(|w| h >= w.from_h && h < w.to_h) {
            dry += w.without_supply.len();
            for &e in &w.junction_entities {
                *out.supply_lost_h.entry(e).or_default() += dt;
            }
            deficient += w.deficient;
            degraded += w.degraded;
            let lost: f64 = w
                .without_supply
                .iter()
                .map(|&j| m.demand_m3s_at(j, t))
                .sum();
            self.lost_m3 += lost * factor * seconds;
        }
        self.max_dry = self.max_dry.max(dry);
        self.max_deficient = self.max_deficient.max(deficient);
        self.max_degraded = self.max_degraded.max(degraded);
        self.dry_h += dry as f64 * dt;
        self.deficit_h += deficient as f64 * dt;
        set_series(out, "junctions_without_water", at.k, dry as f64);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("water_demand_m3", self.demand_m3);
        kpi("water_not_supplied_m3", self.lost_m3);
        kpi("junctions_without_water_max", self.max_dry as f64);
        kpi("junction_hours_without_water", self.dry_h);
        kpi(
            "pressure_deficient_junctions_max",
            self.max_deficient as f64,
        );
        kpi("pressure_deficient_junction_hours", self.deficit_h);
        kpi(
            "junctions_below_service_pressure_intact",
            self.low_intact as f64,
        );
        kpi(
            "water_quality_degraded_junctions_max",
            self.max_degraded as f64,
        );
    }
}
