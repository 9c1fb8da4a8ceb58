//! The traffic model in a run: the street network's equilibrium at the hour's demand (the
//! daily curve of the step's day type: working day, Saturday or Sunday) with the closures and
//! capacity changes active then. Equilibria are solved at a few demand levels and an hour
//! between two levels blends their results linearly, so the run follows the smooth daily curve
//! without steps. Within a run, assignments are cached by (network state, level), so a day
//! costs a handful.

use std::collections::HashMap;

use twin_core::CityModel;
use twin_core::profiles::{DayType, traffic_curve};
use twin_core::traffic::assignment::{AssignmentOptions, assign};
use twin_core::traffic::city::{RoadChanges, build_city_traffic};

use super::step::{Coupling, ModelStep, StepClock, add_series, demand_factor, set_series};
use super::{RunError, RunOutput};
use crate::file::Change;

/// Demand levels of the traffic cache, as fractions of a working day's morning peak hour. No
/// demand (level 0) needs no assignment: nobody drives.
const TRAFFIC_LEVELS: [f64; 6] = [0.0, 0.125, 0.25, 0.5, 0.75, 1.0];

/// The two cached levels around the curve's value `curve` (0–1) and the weight of the upper
/// one: the step's results are `(1 − w)·lower + w·upper`.
fn bracketing_levels(curve: f64) -> (usize, usize, f64) {
    let c = curve.clamp(0.0, 1.0);
    let upper = TRAFFIC_LEVELS
        .iter()
        .position(|&l| l >= c)
        .unwrap_or(TRAFFIC_LEVELS.len() - 1)
        .max(1);
    let lower = upper - 1;
    let w = (c - TRAFFIC_LEVELS[lower]) / (TRAFFIC_LEVELS[upper] - TRAFFIC_LEVELS[lower]);
    (lower, upper, w)
}

/// Traffic results per (network state, level), for one run.
#[derive(Default)]
pub(super) struct TrafficCache {
    results: HashMap<(String, usize), TrafficAt>,
}

#[derive(Default)]
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

    /// The closures and capacity changes active at hour `h`, with the demand scaled by `demand`.
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

    /// The equilibrium of the network state `road` (closures and capacities; `state` is its
    /// cache key) at demand level `level` (an index of [`TRAFFIC_LEVELS`]) times `road`'s demand
    /// factor, from the cache or solved and cached.
    fn at_level(
        &mut self,
        road: &RoadChanges,
        state: &str,
        level: usize,
    ) -> Result<&TrafficAt, RunError> {
        let key = (state.to_string(), level);
        if !self.cache.results.contains_key(&key) {
            let solved = if TRAFFIC_LEVELS[level] == 0.0 {
                TrafficAt::default()
            } else {
                self.solve(&RoadChanges {
                    demand_factor: TRAFFIC_LEVELS[level] * road.demand_factor,
                    ..road.clone()
                })?
            };
            self.cache.results.insert(key.clone(), solved);
        }
        Ok(&self.cache.results[&key])
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
        let curve = traffic_curve(DayType::from_weekday(at.weekday), at.hour);
        let (lower, upper, w) = bracketing_levels(curve);
        // The network state is the same for both levels: its changes and key, once a step.
        let road = self.road_changes(at.h, factor);
        let state = format!("{:?}|{:?}|{}", road.closed, road.capacity_factors, factor);
        let dt = at.dt;
        let mut vehicle_min = 0.0;
        for (level, weight) in [(lower, 1.0 - w), (upper, w)] {
            if weight == 0.0 {
                continue;
            }
            let r = self.at_level(&road, &state, level)?;
            // The blended flows last the step: vehicle-minutes per hour × hours.
            for &(s, vm) in &r.by_segment {
                *out.street_vehicle_minutes.entry(s).or_default() += weight * vm * dt;
            }
            let (level_min, free_flow_min) = (r.vehicle_min, r.free_flow_min);
            vehicle_min += weight * level_min;
            self.vehicle_h += weight * level_min / 60.0 * dt;
            self.delay_h += weight * (level_min - free_flow_min).max(0.0) / 60.0 * dt;
        }
        set_series(out, "travel_time_veh_h_per_h", at.k, vehicle_min / 60.0);
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut RunOutput) {
        out.kpis.insert("travel_time_veh_h".into(), self.vehicle_h);
        out.kpis.insert("delay_veh_h".into(), self.delay_h);
    }
}
