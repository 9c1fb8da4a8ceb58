//! Deterministic generator of the Pitești city bundle (`twin city synth pitesti`).
//!
//! No OSM extract of Pitești is available offline, so the bundle is laid out from the real facts
//! (data/reference/pitesti/FACTS.md): the real boundary polygon, the 2021 census population over
//! the named neighbourhoods, the named north–south and east–west axes, 13 signalised
//! intersections and 14 roundabouts, the relief from the Argeș riverbed to Trivale. Streets,
//! networks, bins and chargers are synthetic but plausible; data/pitesti/README.md says which is
//! which. The same seed always gives byte-identical files: every random draw comes from one
//! seeded ChaCha8 stream and nothing iterates a hash map.

mod chargers;
pub(crate) mod power;
mod streets;
pub mod terrain;
mod waste;
mod water;

use std::collections::BTreeMap;
use std::path::Path;

use petgraph::graph::{NodeIndex, UnGraph};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bundle::{
    CityManifest, DisposalEntry, EvEntry, GatewayEntry, LayerFiles, NeighbourhoodEntry, WasteEntry,
};
use crate::entity::{Asset, Entity, StreetSegment};
use crate::formats::layers::{entity_feature, feature_collection, intersection_feature};
use crate::geometry::LonLat;
use crate::id::{EntityId, EntityKind};

pub use streets::{ROUNDABOUTS, SIGNALISED_INTERSECTIONS};
pub use terrain::{CENTRE, POPULATION_2021};

/// Hands out sequential ids per family and prefix: `power:pt-1`, `bin:1`, …
#[derive(Default)]
pub struct SynthEntityIds {
    next: BTreeMap<(EntityKind, &'static str), u32>,
}

impl SynthEntityIds {
    pub fn next(&mut self, kind: EntityKind, prefix: &'static str) -> EntityId {
        let n = self.next.entry((kind, prefix)).or_insert(0);
        *n += 1;
        let local = if prefix.is_empty() {
            n.to_string()
        } else {
            format!("{prefix}-{n}")
        };
        EntityId::new(kind, local).expect("generated ids are valid")
    }
}

/// Shortest road distances over the planned streets (both directions, in metres).
pub struct RoadDistances {
    graph: UnGraph<(), f64>,
}

impl RoadDistances {
    fn new(plan: &streets::RoadPlan) -> RoadDistances {
        let mut graph = UnGraph::with_capacity(plan.nodes.len(), plan.edges.len());
        for _ in &plan.nodes {
            graph.add_node(());
        }
        for e in &plan.edges {
            graph.add_edge(NodeIndex::new(e.a), NodeIndex::new(e.b), plan.length_m(e));
        }
        RoadDistances { graph }
    }

    /// Distance from `node` to every node (infinite where unreachable).
    pub fn distances_from(&self, node: usize) -> Vec<f64> {
        let found =
            petgraph::algo::dijkstra(&self.graph, NodeIndex::new(node), None, |e| *e.weight());
        let mut out = vec![f64::INFINITY; self.graph.node_count()];
        for (n, d) in found {
            out[n.index()] = d;
        }
        out
    }

    /// The planned node nearest to (x, y) in the local frame.
    pub fn nearest_node(&self, plan: &streets::RoadPlan, x: f64, y: f64) -> usize {
        (0..plan.nodes.len())
            .min_by(|&a, &b| {
                let da = (plan.nodes[a].x - x).hypot(plan.nodes[a].y - y);
                let db = (plan.nodes[b].x - x).hypot(plan.nodes[b].y - y);
                da.total_cmp(&db).then(a.cmp(&b))
            })
            .unwrap_or(0)
    }
}

/// The files of a generated bundle, by name, in memory.
pub struct SynthBundle {
    pub files: Vec<(String, String)>,
}

impl SynthBundle {
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, text) in &self.files {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }
}

/// Generate the Pitești bundle from `seed`, on a synthetic street grid.
pub fn synth_pitesti(seed: u64) -> Result<SynthBundle, String> {
    synth_pitesti_on(seed, None)
}

/// Generate the Pitești bundle from `seed`. With `streets` (an OSM import of the real streets),
/// the networks, bins and chargers are laid over those streets, which are kept as they are.
pub fn synth_pitesti_on(seed: u64, streets: Option<&[Entity]>) -> Result<SynthBundle, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let frame = terrain::LocalFrame::new(CENTRE);
    let (boundary_text, boundary) = terrain::pitesti_boundary()?;
    let mut ids = SynthEntityIds::default();

    let imported = streets.map(|s| {
        s.iter()
            .filter(|e| matches!(e.asset, Asset::StreetSegment(_)))
            .collect::<Vec<_>>()
    });
    if imported.as_ref().is_some_and(|s| s.is_empty()) {
        return Err("the streets given hold no street segment".into());
    }
    let mut plan = match streets {
        Some(segments) => streets::plan_from_segments(&frame, segments),
        None => streets::plan_streets(&frame, &boundary, &mut rng),
    };
    streets::assign_population(&mut plan);
    let node_pop = streets::node_population(&plan);
    let roads = RoadDistances::new(&plan);
    tracing::info!(
        nodes = plan.nodes.len(),
        segments = plan.edges.len(),
        "streets laid out"
    );

    let (dx, dy) = chargers::BUS_DEPOT_XY;
    let depot_node = roads.nearest_node(&plan, dx, dy);
    let depot_fast_node = plan.incidence()[depot_node]
        .iter()
        .map(|&k| {
            if plan.edges[k].a == depot_node {
                plan.edges[k].b
            } else {
                plan.edges[k].a
            }
        })
        .min()
        .unwrap_or(depot_node);
    let dedicated = [
        power::DedicatedPost {
            node: depot_node,
            rated_kva: 2.0 * 1_600.0,
            base_kw: 40.0,
            name: "PT Depou Publitrans 1".into(),
        },
        power::DedicatedPost {
            node: depot_fast_node,
            rated_kva: 2.0 * 2_000.0,
            base_kw: 20.0,
            name: "PT Depou Publitrans 2".into(),
        },
    ];
    let power = power::plan_power(&plan, &node_pop, &roads, &dedicated, &mut ids);
    tracing::info!(
        posts = power.post_nodes.len(),
        branches = power.case.branch.len(),
        "power network laid out"
    );
    let water = water::plan_water(&plan, &node_pop, &frame, &mut rng);
    tracing::info!(
        junctions = water.junctions.len(),
        pipes = water.pipes.len(),
        "water network laid out"
    );
    let bins = waste::plan_bins(&plan, &frame, &mut ids, &mut rng);
    let depot = chargers::DepotPosts {
        slow: power.dedicated_posts[0].clone(),
        fast: power.dedicated_posts[1].clone(),
    };
    let chargers =
        chargers::plan_chargers(&plan, &frame, &power.post_nodes, &depot, &mut ids, &mut rng);

    let street_entities: Vec<Entity> = match imported {
        Some(segments) => segments.into_iter().cloned().collect(),
        None => plan_street_entities(&plan, &frame, &mut ids),
    };
    let intersections: Vec<String> = plan
        .intersections
        .iter()
        .map(|i| {
            let control = match i.control {
                streets::Control::TrafficSignals => "traffic_signals",
                streets::Control::Roundabout => "roundabout",
            };
            let nodes: Vec<i64> = i.nodes.iter().map(|&v| v as i64 + 1).collect();
            intersection_feature(frame.to_lonlat(i.x, i.y), control, &i.name, &nodes)
        })
        .collect();
    let streets = street_entities;
    let manifest = CityManifest {
        name: "Pitești".into(),
        country: Some("RO".into()),
        population: u64::from(POPULATION_2021),
        timezone: "Europe/Bucharest".into(),
        centre: [CENTRE.lon, CENTRE.lat],
        boundary: Some("boundary.geojson".into()),
        layers: LayerFiles {
            streets: Some("streets.geojson".into()),
            intersections: Some("intersections.geojson".into()),
            power: Some("power.m".into()),
            power_buses: Some("power_buses.geojson".into()),
            water: Some("water.inp".into()),
            water_crs: None,
            water_valves: Some("water_valves.csv".into()),
            bins: Some("bins.geojson".into()),
            chargers: Some("chargers.geojson".into()),
        },
        neighbourhoods: terrain::NEIGHBOURHOODS
            .iter()
            .zip(terrain::JOBS)
            .map(|(&(name, x, y, population), jobs)| {
                let p = frame.to_lonlat(x, y);
                NeighbourhoodEntry {
                    name: name.into(),
                    centre: [round7(p.lon), round7(p.lat)],
                    population,
                    jobs: Some(jobs),
                }
            })
            .collect(),
        gateways: terrain::GATEWAYS
            .iter()
            .map(|&(name, x, y, inbound, outbound)| {
                // The gateway stands on the street node nearest to its road's end.
                let node = &plan.nodes[roads.nearest_node(&plan, x, y)];
                GatewayEntry {
                    name: name.into(),
                    location: [round7(node.pos.lon), round7(node.pos.lat)],
                    peak_inbound_veh_h: inbound,
                    peak_outbound_veh_h: outbound,
                }
            })
            .collect(),
        gis: Vec::new(),
        waste: Some(pitesti_waste_sites()),
        ev: Some(EvEntry {
            sessions: Some(EV_SESSIONS.into()),
            share: Some(EV_SHARE_TODAY),
            cars_per_1000: Some(CARS_PER_1000_RO),
            electric_buses: Some(PUBLITRANS_E_BUSES),
            bus_km_per_day: Some(PUBLITRANS_BUS_KM_PER_DAY),
        }),
    };
    let header = format!(
        "# citytwin city bundle of Pitești, generated by `twin city synth pitesti --seed {seed}`.\n\
         # Synthetic layout over real facts: see README.md in this folder.\n\n"
    );
    let power_header = "CITYTWIN synthetic 20 kV distribution network of Pitești (not the real DEO network).\n\
        Bus 1: 110 kV grid (slack). Buses 2-5: 20 kV busbars of the 110/20 kV substations.\n\
        Other buses: 20/0.4 kV transformer posts; Pd/Qd = peak demand after diversity.\n\
        Branches with a tap ratio: 110/20 kV transformers. Status 0: normally-open tie switches.";
    let files = vec![
        ("city.toml".to_string(), header + &manifest.to_toml()),
        ("boundary.geojson".to_string(), boundary_text),
        (
            "streets.geojson".to_string(),
            feature_collection(streets.iter().filter_map(entity_feature)),
        ),
        (
            "intersections.geojson".to_string(),
            feature_collection(intersections),
        ),
        (
            "power.m".to_string(),
            power.case.to_matpower_string(power_header),
        ),
        (
            "power_buses.geojson".to_string(),
            feature_collection(power.entities.iter().filter_map(entity_feature)),
        ),
        ("water.inp".to_string(), water.to_inp_string()),
        (
            "water_valves.csv".to_string(),
            water::isolation_valve_layer(&water),
        ),
        (
            "bins.geojson".to_string(),
            feature_collection(bins.iter().filter_map(entity_feature)),
        ),
        (
            "chargers.geojson".to_string(),
            feature_collection(chargers.iter().filter_map(entity_feature)),
        ),
    ];
    Ok(SynthBundle { files })
}

/// Street segment entities of a planned grid, numbered `street:1`, `street:2`, …
fn plan_street_entities(
    plan: &streets::RoadPlan,
    frame: &terrain::LocalFrame,
    ids: &mut SynthEntityIds,
) -> Vec<Entity> {
    plan.edges
        .iter()
        .map(|e| {
            let mut geometry: Vec<LonLat> = vec![plan.nodes[e.a].pos];
            geometry.extend(e.via.iter().map(|&(x, y)| frame.to_lonlat(x, y)));
            geometry.push(plan.nodes[e.b].pos);
            let length_m = crate::geometry::polyline_length_m(&geometry);
            let mut seg = StreetSegment {
                road_class: e.class,
                geometry,
                length_m,
                lanes: e.lanes,
                speed_limit_kmh: e.speed_kmh,
                capacity_veh_h: 0.0,
                oneway: e.oneway,
                from_node: e.a as i64 + 1,
                to_node: e.b as i64 + 1,
            };
            seg.capacity_veh_h =
                f64::from(seg.lanes_per_direction()) * e.class.capacity_per_lane_veh_h();
            let mid = seg.geometry[seg.geometry.len() / 2];
            Entity::new(
                ids.next(EntityKind::Street, ""),
                mid,
                Asset::StreetSegment(seg),
            )
            .with_name(e.name.clone())
        })
        .collect()
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}
/// The real charging sessions the EV demand is calibrated on (Dundee City Council's open data,
/// data/ev/SOURCES.md), relative to the bundle's folder.
const EV_SESSIONS: &str = "../ev/cp-data-mar-may-2018.csv";

/// Share of the city's cars that are electric today (Romania: about 2 %, as docs/ev.md says):
/// the live feed's and the scenarios' default.
const EV_SHARE_TODAY: f64 = 0.02;

/// Passenger cars per 1,000 inhabitants in Romania (Eurostat table `road_eqs_carhab`, 2022,
/// rounded).
const CARS_PER_1000_RO: f64 = 400.0;

/// Publitrans' electric buses (data/reference/pitesti/FACTS.md) and the kilometres each drives
/// a day (a planning value for a city bus).
const PUBLITRANS_E_BUSES: usize = 40;
const PUBLITRANS_BUS_KM_PER_DAY: f64 = 220.0;

/// Where Pitești's collection trucks start and unload: the operator's depot in the north
/// industrial area, and the route out to the integrated waste management centre (CMID) at
/// Albota, about 8 km beyond the south-west edge of the city's streets (16 km there and back).
fn pitesti_waste_sites() -> WasteEntry {
    WasteEntry {
        depot: [24.8625, 44.8830],
        disposal: vec![DisposalEntry {
            name: "CMID Albota".into(),
            location: [24.8290, 44.8420],
            extra_km: 16.0,
            streams: Vec::new(),
        }],
    }
}
