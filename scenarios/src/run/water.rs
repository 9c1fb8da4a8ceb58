//! The water model in a run: a broken pipe is isolated by its valves when it breaks (junctions
//! without water, junctions below service pressure after the re-solve), counted in
//! junction-hours while it lasts, and the junctions whose water degrades with it (older water,
//! chlorine below the residual); the city's demand follows its daily curve.

use twin_core::CityModel;
use twin_core::entity::Asset;
use twin_core::profiles::water_curve;

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use twin_core::kpi::LOW_PRESSURE_M;

use super::{RunError, RunOutput};
use crate::file::Change;

struct WaterEvent {
    from_h: f64,
    to_h: f64,
    without_supply: usize,
    deficient: usize,
    /// Supplied junctions whose water degrades (older, or chlorine below the residual).
    degraded: usize,
    demand_lost_m3s: f64,
}

pub(super) struct WaterStep<'a> {
    changes: &'a [Change],
    events: Vec<WaterEvent>,
    /// The city's base demand, m³/s.
    base_m3s: f64,
    demand_m3: f64,
    lost_m3: f64,
    dry_h: f64,
    deficit_h: f64,
    max_dry: usize,
    max_deficient: usize,
    max_degraded: usize,
}

impl<'a> WaterStep<'a> {
    pub fn new(
        city: &CityModel,
        changes: &'a [Change],
        steps: usize,
        out: &mut RunOutput,
    ) -> Result<WaterStep<'a>, RunError> {
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
                let net = city
                    .water_network
                    .as_ref()
                    .ok_or_else(|| RunError::Water("the city has no water network".into()))?;
                let b = twin_core::water::isolation::isolate_pipe_break(
                    net,
                    &city.water_valves,
                    city.entities()[p].id.local(),
                    LOW_PRESSURE_M,
                )
                .map_err(|e| RunError::Water(e.to_string()))?;
                events.push(WaterEvent {
                    from_h: window.from_h,
                    to_h: window.to_h,
                    without_supply: b.without_supply.len(),
                    deficient: b.pressure_deficient.len(),
                    degraded: b.quality_degraded.len(),
                    demand_lost_m3s: b.demand_lost_m3s,
                });
            }
        }
        let base_m3s = city
            .water_network
            .as_ref()
            .map(|n| n.junctions.iter().map(|j| j.base_demand).sum::<f64>() * n.flow_units.to_m3s())
            .unwrap_or(0.0);
        add_series(out, "junctions_without_water", steps);
        Ok(WaterStep {
            changes,
            events,
            base_m3s,
            demand_m3: 0.0,
            lost_m3: 0.0,
            dry_h: 0.0,
            deficit_h: 0.0,
            max_dry: 0,
            max_deficient: 0,
            max_degraded: 0,
        })
    }
}

impl ModelStep for WaterStep<'_> {
    fn step(
        &mut self,
        at: &StepClock,
        _: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let (h, dt) = (at.h, at.dt);
        let factor = demand_factor(self.changes, h, &|c| {
            matches!(c, Change::Demand { water: true, .. })
        });
        let curve = water_curve(at.hour);
        self.demand_m3 += self.base_m3s * curve * factor * dt * 3600.0;
        let (mut dry, mut deficient, mut degraded) = (0, 0, 0);
        for w in self.events.iter().filter(|w| h >= w.from_h && h < w.to_h) {
            dry += w.without_supply;
            deficient += w.deficient;
            degraded += w.degraded;
            self.lost_m3 += w.demand_lost_m3s * curve * factor * dt * 3600.0;
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
            "water_quality_degraded_junctions_max",
            self.max_degraded as f64,
        );
    }
}
