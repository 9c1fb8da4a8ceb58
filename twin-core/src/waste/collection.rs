//! Collection planning for one stream on one day: the chosen bins become truck trips over the
//! city's streets (capacitated vehicle routing by the SISR solver on road distances), each trip
//! from the depot through its bins to the disposal or sorting site and back, and the trips are
//! packed into truck shifts.
//!
//! Model and simplifications:
//! - a trip is depot → bins → disposal site → depot; a truck doing several trips in a shift
//!   returns to the depot between them (slightly more km than driving straight from the site);
//! - a bin's load is its loose volume at pickup (volume × level); the truck's capacity is its
//!   body volume times the compaction ratio;
//! - trip time = road km at an urban average speed + a service time per bin + unloading;
//! - trips are packed into shifts first-fit by decreasing duration.

use std::collections::HashMap;

use crate::city::CityModel;
use crate::entity::Asset;
use crate::entity::Sites;
use crate::routing::road_matrix::road_distance_matrix;
use crate::routing::{Budget, CvrpProblem, CvrpSolution, SolveOptions, solve};

/// `x` rounded to `decimals` places, for JSON output.
fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// A collection truck and how it works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fleet {
    /// Body volume, litres.
    pub body_l: f64,
    /// Loose volume per compacted volume.
    pub compaction: f64,
    pub shift_h: f64,
    /// Average speed over urban streets, km/h.
    pub speed_kmh: f64,
    /// Minutes per bin emptied (stop, lift, go).
    pub service_min: f64,
    /// Minutes to unload at the disposal site.
    pub unload_min: f64,
    /// Diesel per km, litres.
    pub fuel_l_per_km: f64,
}

impl Default for Fleet {
    /// A 16 m³ rear-loader compacting 3:1, an 8 h shift; 45 l/100 km is typical of urban refuse
    /// collection (stop-and-go with the compactor running).
    fn default() -> Self {
        Fleet {
            body_l: 16_000.0,
            compaction: 3.0,
            shift_h: 8.0,
            speed_kmh: 20.0,
            service_min: 1.2,
            unload_min: 20.0,
            fuel_l_per_km: 0.45,
        }
    }
}

impl Fleet {
    /// Loose litres a truck carries per trip.
    pub fn capacity_l(&self) -> f64 {
        self.body_l * self.compaction
    }
}

/// kg of CO2 per litre of diesel burnt (tank to wheel).
pub const CO2_KG_PER_L_DIESEL: f64 = 2.68;

/// A bin to empty and the loose litres it holds at pickup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinPickup {
    /// Entity index in the city.
    pub entity: usize,
    pub load_l: f64,
}

/// One trip: the bins in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub bins: Vec<usize>,
    pub km: f64,
    pub load_l: f64,
    pub duration_h: f64,
}

/// One truck's shift.
#[derive(Debug, Clone, PartialEq)]
pub struct TruckShift {
    pub trips: Vec<Trip>,
    pub km: f64,
    pub duration_h: f64,
}

/// The plan of a day for one stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DayPlan {
    pub trucks: Vec<TruckShift>,
    pub km: f64,
    pub bins: usize,
    pub load_l: f64,
    /// Bins that cannot be reached by road from the depot or cannot reach the disposal site.
    pub unreachable: Vec<usize>,
}

impl DayPlan {
    pub fn trips(&self) -> usize {
        self.trucks.iter().map(|t| t.trips.len()).sum()
    }

    /// The plan as JSON: totals, then each truck's trips with the bin ids in order.
    pub fn to_json(&self, city: &CityModel) -> serde_json::Value {
        use serde_json::json;
        let ids = |bins: &[usize]| -> Vec<String> {
            bins.iter()
                .map(|&i| city.entities()[i].id.to_string())
                .collect()
        };
        json!({
            "km": round_to(self.km, 2),
            "bins": self.bins,
            "load_l": round_to(self.load_l, 0),
            "trips": self.trips(),
            "unreachable": ids(&self.unreachable),
            "trucks": self.trucks.iter().enumerate().map(|(k, t)| json!({
                "truck": k + 1,
                "km": round_to(t.km, 2),
                "duration_h": round_to(t.duration_h, 2),
                "trips": t.trips.iter().map(|trip| json!({
                    "bins": ids(&trip.bins),
                    "km": round_to(trip.km, 2),
                    "load_l": round_to(trip.load_l, 0),
                    "duration_h": round_to(trip.duration_h, 2),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The routes as a GeoJSON FeatureCollection for the viewer: one LineString per trip, depot
    /// → bins in order → disposal site.
    pub fn routes_geojson(&self, city: &CityModel, sites: &Sites) -> String {
        let features: Vec<String> = self
            .trucks
            .iter()
            .enumerate()
            .flat_map(|(k, t)| {
                t.trips
                    .iter()
                    .enumerate()
                    .map(move |(j, trip)| (k, j, trip))
            })
            .map(|(k, j, trip)| {
                let mut coords = vec![[sites.depot.lon, sites.depot.lat]];
                coords.extend(trip.bins.iter().map(|&i| {
                    let p = city.entities()[i].location;
                    [p.lon, p.lat]
                }));
                coords.push([sites.disposal.lon, sites.disposal.lat]);
                serde_json::json!({"type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {"truck": k + 1, "trip": j + 1, "bins": trip.bins.len(),
                        "km": round_to(trip.km, 2), "load_l": round_to(trip.load_l, 0)}})
                .to_string()
            })
            .collect();
        crate::formats::layers::feature_collection(features)
    }
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("entity {0} is not a bin of this collection network")]
    UnknownBin(usize),
    #[error("bin {entity} holds {load_l:.0} l, more than a truck's {capacity_l:.0} l")]
    TooHeavy {
        entity: usize,
        load_l: f64,
        capacity_l: f64,
    },
    #[error("a trip of {hours:.1} h does not fit a {shift_h} h shift")]
    TripTooLong { hours: f64, shift_h: f64 },
    #[error("the routing solver returned an infeasible plan: {0}")]
    Infeasible(String),
}

/// Road distances between the depot, the disposal site and every bin of a stream, computed once
/// and used for every day's plan.
pub struct CollectionNetwork {
    /// Entity index of each bin slot (slots 2.. in the matrix).
    bins: Vec<usize>,
    slot_of: HashMap<usize, usize>,
    /// Metres, row-major over [depot, disposal, bins...].
    matrix: Vec<f64>,
    extra_m: f64,
}

const DEPOT: usize = 0;
const DISPOSAL: usize = 1;

impl CollectionNetwork {
    /// Build the road-distance matrix over the given bins (entity indices).
    pub fn new(city: &CityModel, bins: &[usize], sites: &Sites) -> CollectionNetwork {
        let mut points = vec![sites.depot, sites.disposal];
        points.extend(bins.iter().map(|&i| city.entities()[i].location));
        let matrix = road_distance_matrix(city, &points);
        CollectionNetwork {
            slot_of: bins.iter().enumerate().map(|(k, &i)| (i, k + 2)).collect(),
            bins: bins.to_vec(),
            matrix,
            extra_m: sites.disposal_extra_km * 1000.0,
        }
    }

    /// Every bin of a stream in the city.
    pub fn for_stream(
        city: &CityModel,
        stream: crate::entity::WasteKind,
        sites: &Sites,
    ) -> CollectionNetwork {
        let bins: Vec<usize> = city
            .entities()
            .iter()
            .enumerate()
            .filter(
                |(_, e)| matches!(&e.asset, Asset::WasteBin(b) if b.stored_waste_kind == stream),
            )
            .map(|(i, _)| i)
            .collect();
        CollectionNetwork::new(city, &bins, sites)
    }

    pub fn bins(&self) -> &[usize] {
        &self.bins
    }

    fn size(&self) -> usize {
        self.bins.len() + 2
    }

    fn d(&self, a: usize, b: usize) -> f64 {
        self.matrix[a * self.size() + b]
    }

    /// Metres from the last bin of a trip through the disposal site back to the depot.
    fn home_via_disposal(&self, slot: usize) -> f64 {
        self.d(slot, DISPOSAL) + self.extra_m + self.d(DISPOSAL, DEPOT)
    }

    /// Plan the trips that empty these bins.
    pub fn plan(
        &self,
        pickups: &[BinPickup],
        fleet: &Fleet,
        seed: u64,
        iterations: u64,
    ) -> Result<DayPlan, PlanError> {
        let capacity_l = fleet.capacity_l();
        let mut slots = Vec::with_capacity(pickups.len());
        let mut unreachable = Vec::new();
        for p in pickups {
            let slot = *self
                .slot_of
                .get(&p.entity)
                .ok_or(PlanError::UnknownBin(p.entity))?;
            if p.load_l > capacity_l {
                return Err(PlanError::TooHeavy {
                    entity: p.entity,
                    load_l: p.load_l,
                    capacity_l,
                });
            }
            if !(self.d(DEPOT, slot).is_finite() && self.home_via_disposal(slot).is_finite()) {
                unreachable.push(p.entity);
                continue;
            }
            slots.push((slot, p));
        }
        if slots.is_empty() {
            return Ok(DayPlan {
                unreachable,
                ..DayPlan::default()
            });
        }
        // The CVRP: node 0 is the depot; arcs into it go through the disposal site. Where the
        // streets give no direct path between two bins, the detour through the depot is used.
        let n = slots.len() + 1;
        let node_slot: Vec<usize> = std::iter::once(DEPOT)
            .chain(slots.iter().map(|s| s.0))
            .collect();
        let mut dist = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let (sa, sb) = (node_slot[a], node_slot[b]);
                dist[a * n + b] = if b == 0 {
                    self.home_via_disposal(sa)
                } else {
                    let direct = self.d(sa, sb);
                    let via_depot = self.d(sa, DEPOT) + self.d(DEPOT, sb);
                    if direct.is_finite() {
                        direct
                    } else if via_depot.is_finite() {
                        via_depot
                    } else {
                        self.home_via_disposal(sa) + self.d(DEPOT, sb)
                    }
                };
            }
        }
        // Loads in whole litres for the solver.
        let demand: Vec<u32> = std::iter::once(0)
            .chain(slots.iter().map(|(_, p)| p.load_l.ceil().max(1.0) as u32))
            .collect();
        let problem = CvrpProblem {
            name: "collection".into(),
            n,
            capacity: capacity_l.floor() as u32,
            demand,
            dist,
            file_index: (0..n).collect(),
            service_time: 0.0,
            max_route_duration: None,
            vehicles: None,
        };
        let solution: CvrpSolution = solve(
            &problem,
            &SolveOptions {
                seed,
                budget: Budget::Iterations(iterations),
                target_cost: None,
            },
        );
        problem
            .check(&solution)
            .map_err(|e| PlanError::Infeasible(e.to_string()))?;
        let trip = |route: &[usize]| {
            let km = problem.route_cost(route) / 1000.0;
            Trip {
                bins: route.iter().map(|&c| slots[c - 1].1.entity).collect(),
                km,
                load_l: route.iter().map(|&c| slots[c - 1].1.load_l).sum(),
                duration_h: km / fleet.speed_kmh
                    + (route.len() as f64 * fleet.service_min + fleet.unload_min) / 60.0,
            }
        };
        // Routes are capacity-feasible; one longer than a shift is split in two halves (each
        // going to the disposal site) until every trip fits.
        let mut pending: Vec<Vec<usize>> = solution.routes.clone();
        let mut trips: Vec<Trip> = Vec::new();
        while let Some(route) = pending.pop() {
            if route.is_empty() {
                continue;
            }
            let t = trip(&route);
            if t.duration_h <= fleet.shift_h {
                trips.push(t);
            } else if route.len() == 1 {
                return Err(PlanError::TripTooLong {
                    hours: t.duration_h,
                    shift_h: fleet.shift_h,
                });
            } else {
                let (a, b) = route.split_at(route.len() / 2);
                pending.push(a.to_vec());
                pending.push(b.to_vec());
            }
        }
        // First fit by decreasing duration into shifts.
        trips.sort_by(|a, b| b.duration_h.total_cmp(&a.duration_h));
        let mut trucks: Vec<TruckShift> = Vec::new();
        for trip in trips {
            match trucks
                .iter_mut()
                .find(|t| t.duration_h + trip.duration_h <= fleet.shift_h)
            {
                Some(t) => {
                    t.km += trip.km;
                    t.duration_h += trip.duration_h;
                    t.trips.push(trip);
                }
                None => trucks.push(TruckShift {
                    km: trip.km,
                    duration_h: trip.duration_h,
                    trips: vec![trip],
                }),
            }
        }
        Ok(DayPlan {
            km: trucks.iter().map(|t| t.km).sum(),
            bins: slots.len(),
            load_l: slots.iter().map(|(_, p)| p.load_l).sum(),
            trucks,
            unreachable,
        })
    }
}

/// Check a plan: every bin once, no trip over capacity, no shift over its length.
pub fn check_plan(plan: &DayPlan, pickups: &[BinPickup], fleet: &Fleet) -> Result<(), String> {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for truck in &plan.trucks {
        let hours: f64 = truck.trips.iter().map(|t| t.duration_h).sum();
        if hours > fleet.shift_h + 1e-9 {
            return Err(format!(
                "a shift of {hours:.2} h exceeds {} h",
                fleet.shift_h
            ));
        }
        for trip in &truck.trips {
            if trip.load_l > fleet.capacity_l() + 1e-6 {
                return Err(format!(
                    "a trip carries {:.0} l > {:.0} l",
                    trip.load_l,
                    fleet.capacity_l()
                ));
            }
            for &b in &trip.bins {
                *seen.entry(b).or_default() += 1;
            }
        }
    }
    for p in pickups {
        let times = seen.get(&p.entity).copied().unwrap_or(0);
        let expected = usize::from(!plan.unreachable.contains(&p.entity));
        if times != expected {
            return Err(format!("bin {} is emptied {times} times", p.entity));
        }
    }
    if seen.len() != pickups.len() - plan.unreachable.len() {
        return Err("the plan empties bins that were not chosen".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::WasteKind;

    fn pitesti() -> CityModel {
        crate::builtin::load_pitesti().expect("Pitești bundle")
    }

    #[test]
    fn a_day_of_glass_is_feasible_and_every_bin_is_emptied_once() {
        let city = pitesti();
        let net = CollectionNetwork::for_stream(
            &city,
            WasteKind::Glass,
            &city.collection_sites(WasteKind::Glass).expect("sites"),
        );
        assert!(net.bins().len() > 100);
        let fleet = Fleet::default();
        let pickups: Vec<BinPickup> = net
            .bins()
            .iter()
            .step_by(3)
            .map(|&i| BinPickup {
                entity: i,
                load_l: 900.0,
            })
            .collect();
        let plan = net.plan(&pickups, &fleet, 1, 2_000).expect("plan");
        check_plan(&plan, &pickups, &fleet).expect("feasible");
        assert!(plan.unreachable.is_empty(), "{:?}", plan.unreachable);
        // Capacity forces several trips: 48,000 l per trip.
        let needed = (pickups.len() as f64 * 900.0 / fleet.capacity_l()).ceil() as usize;
        assert!(
            plan.trips() >= needed,
            "{} trips for {needed}",
            plan.trips()
        );
        // Every trip drives at least out to the disposal site and back.
        for t in plan.trucks.iter().flat_map(|t| &t.trips) {
            assert!(
                t.km >= city
                    .collection_sites(WasteKind::Glass)
                    .expect("sites")
                    .disposal_extra_km
            );
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let city = pitesti();
        let net = CollectionNetwork::for_stream(
            &city,
            WasteKind::Glass,
            &city.collection_sites(WasteKind::Glass).expect("sites"),
        );
        let fleet = Fleet::default();
        let street = 0;
        assert_eq!(
            net.plan(
                &[BinPickup {
                    entity: street,
                    load_l: 1.0
                }],
                &fleet,
                1,
                10
            ),
            Err(PlanError::UnknownBin(street))
        );
        let bin = net.bins()[0];
        assert!(matches!(
            net.plan(
                &[BinPickup {
                    entity: bin,
                    load_l: 1e9
                }],
                &fleet,
                1,
                10
            ),
            Err(PlanError::TooHeavy { .. })
        ));
        let empty = net.plan(&[], &fleet, 1, 10).expect("empty plan");
        assert_eq!((empty.bins, empty.trips()), (0, 0));
    }
}
