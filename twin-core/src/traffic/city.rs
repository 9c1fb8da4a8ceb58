//! Traffic on a city's road graph: zones (neighbourhoods and gateways) joined to the streets by
//! connectors, a morning peak-hour demand from a doubly constrained gravity model (residents
//! produce trips, jobs attract them, gateways add commuters), and the city manager's changes
//! (closed segments, capacity factors) applied before assignment.

use std::collections::BTreeMap;

use super::network::{AssignmentNetwork, Demand, TrafficLink};
use crate::city::CityModel;
use crate::entity::{Asset, IntersectionControl, StreetSegment};
use crate::geometry::LonLat;
use crate::id::EntityId;

/// Car trips per resident leaving home in the morning peak hour: about 2.4 trips a day, half
/// of them by car (Argeș has one of Romania's highest car ownership rates), 10 % of those in the
/// peak hour. Calibrated with [`crate::entity::RoadClass::town_free_flow_speed_kmh`] so that the morning peak
/// loses 15–20 % of travel time on the main axes, the weekday Excess Travel Time Ratio of
/// Romanian county seats of Pitești's size in the Institute for Visionary Cities' *Traffic
/// Index 2025* (a test holds it in 15–30 %; data/pitesti/README.md gives the figures).
pub const PEAK_CAR_TRIPS_PER_RESIDENT: f64 = 0.12;
/// Gravity deterrence: exp(−β·d) with d in km.
const BETA_PER_KM: f64 = 0.35;
/// Connectors from each zone to this many nearest street nodes: the neighbourhood's streets
/// around its centre, so its trips enter the network at many points, not a few.
const CONNECTORS_PER_ZONE: usize = 40;
const CONNECTOR_SPEED_KMH: f64 = 20.0;
const BPR_POWER: f64 = 4.0;
/// Saturation flow of a lane at a signal, veh/h (HCM's base 1,900 pc/h less heavy vehicles).
const SATURATION_FLOW_VEH_H_LANE: f64 = 1_800.0;
/// Share of the cycle an approach of a two-phase signal has green (effective g/C).
const SIGNAL_GREEN_RATIO: f64 = 0.45;

/// What the city manager changes on the road network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoadChanges {
    /// Street segments closed to traffic.
    pub closed: Vec<EntityId>,
    /// Capacity multipliers by segment (0.5 halves it, 1.5 is an added lane on two).
    pub capacity_factors: Vec<(EntityId, f64)>,
    /// Scales the whole demand (population growth, an event).
    pub demand_factor: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CityTrafficError {
    #[error("{0} is not a street segment of this city")]
    NotAStreet(EntityId),
    #[error("capacity factor {factor} for {id} must be positive (close the segment instead)")]
    BadFactor { id: EntityId, factor: f64 },
    #[error("the city has no neighbourhoods with population: nothing to assign")]
    NoZones,
    #[error("demand factor {0} must be positive")]
    BadDemandFactor(f64),
}

/// A city's assignment problem, with the map back from links to street segments.
pub struct CityTraffic {
    pub network: AssignmentNetwork,
    pub demand: Demand,
    pub zone_names: Vec<String>,
    /// For each link: the street segment (entity index) it runs along, or `None` for connectors.
    pub link_segment: Vec<Option<usize>>,
}

pub fn build_city_traffic(
    city: &CityModel,
    changes: &RoadChanges,
) -> Result<CityTraffic, CityTrafficError> {
    let demand_factor = if changes.demand_factor == 0.0 {
        1.0
    } else {
        changes.demand_factor
    };
    if !(demand_factor > 0.0 && demand_factor.is_finite()) {
        return Err(CityTrafficError::BadDemandFactor(changes.demand_factor));
    }
    let street_index = |id: &EntityId| -> Result<usize, CityTrafficError> {
        city.entity_index(id)
            .filter(|&i| matches!(city.entities()[i].asset, Asset::StreetSegment(_)))
            .ok_or_else(|| CityTrafficError::NotAStreet(id.clone()))
    };
    let mut closed = vec![false; city.entities().len()];
    for id in &changes.closed {
        closed[street_index(id)?] = true;
    }
    let mut factor = vec![1.0; city.entities().len()];
    for (id, f) in &changes.capacity_factors {
        if !(*f > 0.0 && f.is_finite()) {
            return Err(CityTrafficError::BadFactor {
                id: id.clone(),
                factor: *f,
            });
        }
        factor[street_index(id)?] *= f;
    }

    // Zones: neighbourhoods with residents, then gateways.
    struct Zone {
        name: String,
        at: LonLat,
        production: f64,
        attraction: f64,
    }
    let meta = &city.meta;
    let mut zones: Vec<Zone> = meta
        .neighbourhoods
        .iter()
        .filter(|n| n.population > 0)
        .map(|n| Zone {
            name: n.name.clone(),
            at: n.centre,
            production: f64::from(n.population) * PEAK_CAR_TRIPS_PER_RESIDENT * demand_factor,
            attraction: f64::from(n.jobs),
        })
        .collect();
    if zones.is_empty() {
        return Err(CityTrafficError::NoZones);
    }
    let internal = zones.len();
    for g in &meta.gateways {
        zones.push(Zone {
            name: g.name.clone(),
            at: g.location,
            production: g.peak_inbound_veh_h * demand_factor,
            attraction: g.peak_outbound_veh_h * demand_factor,
        });
    }

    // Nodes: zones first (no through traffic), then street nodes.
    let graph = &city.road.graph;
    let z = zones.len();
    let signalised: std::collections::HashSet<usize> = meta
        .intersections
        .iter()
        .filter(|i| i.control == IntersectionControl::TrafficSignals)
        .flat_map(|i| i.nodes.iter().filter_map(|n| city.road.node_index(*n)))
        .map(|n| n.index())
        .collect();
    let mut links = Vec::new();
    let mut link_segment = Vec::new();
    for e in graph.edge_indices() {
        let (a, b) = graph.edge_endpoints(e).expect("edge exists");
        let arc = graph[e];
        let Asset::StreetSegment(s) = &city.entities()[arc.segment].asset else {
            continue;
        };
        if closed[arc.segment] {
            continue;
        }
        links.push(TrafficLink {
            from: (z + a.index()) as u32,
            to: (z + b.index()) as u32,
            capacity: link_capacity(s, signalised.contains(&b.index())) * factor[arc.segment],
            length: s.length_m / 1000.0,
            free_flow_time: s.free_flow_time_s() / 60.0,
            b: s.road_class.bpr_alpha(),
            power: BPR_POWER,
            toll: 0.0,
        });
        link_segment.push(Some(arc.segment));
    }
    for (k, zone) in zones.iter().enumerate() {
        let count = if k < internal { CONNECTORS_PER_ZONE } else { 2 };
        for (node, d) in city.road.nearest_nodes(zone.at).take(count) {
            let n = node.index();
            let minutes = (d / 1000.0) / CONNECTOR_SPEED_KMH * 60.0;
            for (from, to) in [(k, z + n), (z + n, k)] {
                links.push(TrafficLink {
                    from: from as u32,
                    to: to as u32,
                    capacity: 1e9,
                    length: d / 1000.0,
                    free_flow_time: minutes,
                    b: 0.0,
                    power: 1.0,
                    toll: 0.0,
                });
                link_segment.push(None);
            }
        }
    }
    let network = AssignmentNetwork::from_links(z + graph.node_count(), z, z, links);

    // Doubly constrained gravity model (Furness balancing) on straight-line distances.
    let target_attraction = attraction_targets(
        &zones
            .iter()
            .map(|z| (z.production, z.attraction))
            .collect::<Vec<_>>(),
        internal,
    );
    let deterrence: Vec<Vec<f64>> = zones
        .iter()
        .enumerate()
        .map(|(i, a)| {
            zones
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    // Gateways do not exchange trips with each other here (through traffic is
                    // on the bypasses), and nobody drives to their own zone.
                    if i == j || (i >= internal && j >= internal) {
                        0.0
                    } else {
                        (-BETA_PER_KM * a.at.distance_m(b.at) / 1000.0).exp()
                    }
                })
                .collect()
        })
        .collect();
    let mut row = vec![1.0; z];
    let mut col = vec![1.0; z];
    for _ in 0..50 {
        for i in 0..z {
            let s: f64 = (0..z)
                .map(|j| col[j] * target_attraction[j] * deterrence[i][j])
                .sum();
            row[i] = if s > 0.0 {
                zones[i].production / s
            } else {
                0.0
            };
        }
        for j in 0..z {
            let s: f64 = (0..z)
                .map(|i| row[i] * zones[i].production * deterrence[i][j])
                .sum();
            col[j] = if s > 0.0 { 1.0 / s } else { 0.0 };
        }
    }
    let mut triples = Vec::new();
    for i in 0..z {
        for j in 0..z {
            let t = row[i] * zones[i].production * col[j] * target_attraction[j] * deterrence[i][j];
            if t > 1e-6 {
                triples.push((i as u32, j as u32, t));
            }
        }
    }
    let demand = Demand::from_triples(triples);
    Ok(CityTraffic {
        network,
        demand,
        zone_names: zones.into_iter().map(|z| z.name).collect(),
        link_segment,
    })
}

/// A street link's capacity, veh/h: the segment's, or what its lanes pass on green where it
/// ends at a signal (saturation flow × g/C: Horowitz, *Delay-volume relations for travel
/// forecasting*, FHWA 1991, on link capacities of controlled facilities).
fn link_capacity(s: &StreetSegment, ends_at_signal: bool) -> f64 {
    if ends_at_signal {
        let green =
            f64::from(s.lanes_per_direction()) * SATURATION_FLOW_VEH_H_LANE * SIGNAL_GREEN_RATIO;
        s.capacity_veh_h.min(green)
    } else {
        s.capacity_veh_h
    }
}

/// Trips each zone attracts, given `(production, attraction)` per zone with the `internal`
/// neighbourhoods first (attraction: jobs) and the gateways after them (attraction: outbound
/// vehicles per hour). Gateways draw their stated outbound vehicles (scaled down only if they
/// exceed all trips made); the neighbourhoods share the remaining trips by jobs (by residents'
/// trips where no zone has jobs). The targets add up to the trips produced, as the doubly
/// constrained gravity model needs.
fn attraction_targets(zones: &[(f64, f64)], internal: usize) -> Vec<f64> {
    let total_production: f64 = zones.iter().map(|z| z.0).sum();
    let outbound: f64 = zones[internal..].iter().map(|z| z.1).sum();
    let gateway_scale = if outbound > total_production {
        total_production / outbound
    } else {
        1.0
    };
    let remaining = total_production - outbound * gateway_scale;
    let jobs: f64 = zones[..internal].iter().map(|z| z.1).sum();
    let produced: f64 = zones[..internal].iter().map(|z| z.0).sum();
    zones
        .iter()
        .enumerate()
        .map(|(k, &(production, attraction))| {
            if k >= internal {
                attraction * gateway_scale
            } else if jobs > 0.0 {
                attraction / jobs * remaining
            } else if produced > 0.0 {
                production / produced * remaining
            } else {
                0.0
            }
        })
        .collect()
}

/// Per street segment: flow (veh/h, both directions added), volume/capacity of its busier
/// direction, and the congested travel time of that direction (minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentLoad {
    pub segment: usize,
    pub flow_veh_h: f64,
    pub volume_capacity: f64,
    pub time_min: f64,
}

pub fn segment_loads(traffic: &CityTraffic, flows: &[f64], costs: &[f64]) -> Vec<SegmentLoad> {
    let mut by_segment: BTreeMap<usize, SegmentLoad> = BTreeMap::new();
    for (a, seg) in traffic.link_segment.iter().enumerate() {
        let Some(seg) = *seg else { continue };
        let vc = flows[a] / traffic.network.links[a].capacity;
        let entry = by_segment.entry(seg).or_insert(SegmentLoad {
            segment: seg,
            flow_veh_h: 0.0,
            volume_capacity: 0.0,
            time_min: 0.0,
        });
        entry.flow_veh_h += flows[a];
        if vc >= entry.volume_capacity {
            entry.volume_capacity = vc;
            entry.time_min = costs[a];
        }
    }
    by_segment.into_values().collect()
}

/// Travel time lost to congestion: over the street links the filter keeps, the flow-weighted
/// congested travel time over the free-flow time, minus one (0.25 = trips take 25 % longer than
/// in free flow). It is the Excess Travel Time Ratio of the Institute for Visionary Cities'
/// Traffic Index of Romanian cities (2025) and the "congestion level" of the TomTom Traffic
/// Index. `flows` and `costs` are an assignment's, per link of `traffic.network` (veh/h and
/// minutes). 0 when nothing flows on the kept links.
pub fn excess_travel_time_ratio(
    city: &CityModel,
    traffic: &CityTraffic,
    flows: &[f64],
    costs: &[f64],
    keep: impl Fn(&crate::entity::StreetSegment) -> bool,
) -> f64 {
    let (mut congested, mut free) = (0.0, 0.0);
    for (a, seg) in traffic.link_segment.iter().enumerate() {
        let Some(seg) = *seg else { continue };
        let Asset::StreetSegment(s) = &city.entities()[seg].asset else {
            continue;
        };
        if keep(s) {
            congested += flows[a] * costs[a];
            free += flows[a] * traffic.network.links[a].free_flow_time;
        }
    }
    if free > 0.0 {
        congested / free - 1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_draw_their_outbound_vehicles_and_jobs_the_rest() {
        // Two neighbourhoods (1,000 and 500 trips; 60,000 and 20,000 jobs), one gateway
        // (300 inbound, 400 outbound veh/h): jobs and vehicles are not mixed as one unit.
        let zones = [(1000.0, 60_000.0), (500.0, 20_000.0), (300.0, 400.0)];
        let t = attraction_targets(&zones, 2);
        assert_eq!(t[2], 400.0);
        assert!(
            (t[0] - 1050.0).abs() < 1e-9 && (t[1] - 350.0).abs() < 1e-9,
            "{t:?}"
        );
        assert!((t.iter().sum::<f64>() - 1800.0).abs() < 1e-9);
        // Gateways that would draw more than every trip made are scaled to fit.
        let t = attraction_targets(&[(100.0, 5.0), (0.0, 400.0)], 1);
        assert_eq!(t, vec![0.0, 100.0]);
        // No jobs anywhere: neighbourhoods attract as they produce.
        let t = attraction_targets(&[(300.0, 0.0), (100.0, 0.0)], 2);
        assert_eq!(t, vec![300.0, 100.0]);
    }
}
