//! The traffic model in a run: the street network's equilibrium at the hour's demand level
//! (the daily curve rounded to one of five levels of the morning peak) with the closures and
//! capacity changes active then. Within a run, assignments are cached by (network state,
//! level), so a day costs a handful.

use std::collections::HashMap;

use twin_core::CityModel;
use twin_core::profiles::traffic_curve;
use twin_core::traffic::assignment::{AssignmentOptions, assign};
use twin_core::traffic::city::{RoadChanges, build_city_traffic};

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use super::{RunError, RunOutput};
use crate::file::Change;

/// Demand levels of the traffic cache, as fractions of the morning peak hour.
const TRAFFIC_LEVELS: [f64; 5] = [0.125, 0.25, 0.5, 0.75, 1.0];

/// Traffic results per (network state, level), for one run.
#[derive(Default)]
pub(super) struct TrafficCache {
    results: HashMap<(String, usize), TrafficAt>,
}

struct TrafficAt {
    /// Vehicle-minutes and free-flow vehicle-minutes per hour of this level.
    vehicle_min: f64,
    free_flow_min: f64,
    /// (segment, vehicle-minutes per hour).
    by_segment: Vec<(usize, f64)>,
}

pub(super) struct TrafficStep<'a> {
    city: &'a CityModel,
    changes: &'a [Change],
    cache: &'a mut TrafficCache,
    vehicle_h: f64,
    delay_h: f64,
}

impl<'a> TrafficStep<'a> {
    pub fn new(
        city: &'a CityModel,
        changes: &'a [Change],
        cache: &'a mut TrafficCache,
        steps: usize,
        out: &mut RunOutput,
    ) -> TrafficStep<'a> {
        add_series(out, "travel_time_veh_h_per_h", steps);
        TrafficStep {
            city,
            changes,
            cache,
            vehicle_h: 0.0,
            delay_h: 0.0,
        }
    }

    /// The closures and capacity changes active at hour `h`, at the demand `level`.
    fn road_changes(&self, h: f64, demand: f64) -> RoadChanges {
        let mut road = RoadChanges {
            demand_factor: demand,
            ..RoadChanges::default()
        };
        for c in self.changes {
            if let Change::Streets {
                segments,
                capacity_factor,
                window,
            } = c
                && window.contains(h)
            {
                for &s in segments {
                    let id = self.city.entities()[s].id.clone();
                    if *capacity_factor == 0.0 {
                        road.closed.push(id);
                    } else {
                        road.capacity_factors.push((id, *capacity_factor));
                    }
                }
            }
        }
        road
    }

    /// The equilibrium of `road`, solved once.
    fn solve(&self, road: &RoadChanges) -> Result<TrafficAt, RunError> {
        let t =
            build_city_traffic(self.city, road).map_err(|e| RunError::Traffic(e.to_string()))?;
        let r = assign(
            &t.network,
            &t.demand,
            &AssignmentOptions::default(),
            &mut |_| {},
        )
        .map_err(|e| RunError::Traffic(e.to_string()))?;
        if !r.converged {
            return Err(RunError::Traffic(format!(
                "the traffic assignment stopped at its cap of {} iterations with relative gap {:.3e}, above the target {:.0e}: its flows are not an equilibrium",
                r.iterations,
                r.relative_gap,
                AssignmentOptions::default().target_gap
            )));
        }
        let free_flow: f64 = t
            .network
            .links
            .iter()
            .zip(&r.flows)
            .map(|(l, x)| l.free_flow_time * x)
            .sum();
        let mut by_segment: HashMap<usize, f64> = HashMap::new();
        for (a, seg) in t.link_segment.iter().enumerate() {
            if let Some(s) = seg {
                *by_segment.entry(*s).or_default() += r.flows[a] * r.costs[a];
            }
        }
        Ok(TrafficAt {
            vehicle_min: r.tstt,
            free_flow_min: free_flow,
            by_segment: by_segment.into_iter().collect(),
        })
    }
}

impl ModelStep for TrafficStep<'_> {
    fn step(
        &mut self,
        at: &StepClock,
        _: &mut Coupling,
        out: &mut RunOutput,
    ) -> Result<(), RunError> {
        let factor = demand_factor(self.changes, at.h, &|c| {
            matches!(c, Change::Demand { traffic: true, .. })
        });
        let curve = traffic_curve(at.hour);
        let level = TRAFFIC_LEVELS
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - curve).abs().total_cmp(&(b.1 - curve).abs()))
            .map_or(TRAFFIC_LEVELS.len() - 1, |(i, _)| i);
        let road = self.road_changes(at.h, TRAFFIC_LEVELS[level] * factor);
        let key = (
            format!("{:?}|{:?}|{}", road.closed, road.capacity_factors, factor),
            level,
        );
        if !self.cache.results.contains_key(&key) {
            let solved = self.solve(&road)?;
            self.cache.results.insert(key.clone(), solved);
        }
        let r = &self.cache.results[&key];
        let dt = at.dt;
        // The level's flows last the step: vehicle-minutes per hour × hours.
        self.vehicle_h += r.vehicle_min / 60.0 * dt;
        self.delay_h += (r.vehicle_min - r.free_flow_min).max(0.0) / 60.0 * dt;
        for &(s, vm) in &r.by_segment {
            *out.street_vehicle_minutes.entry(s).or_default() += vm * dt;
        }
        set_series(out, "travel_time_veh_h_per_h", at.k, r.vehicle_min / 60.0);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        out.kpis.insert("travel_time_veh_h".into(), self.vehicle_h);
        out.kpis.insert("delay_veh_h".into(), self.delay_h);
    }
}
