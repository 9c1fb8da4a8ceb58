//! The [`CityModel`]: every entity of a city, its three networks and its spatial index, built
//! from the layers of a city bundle and checked for consistency (unique ids, every branch on
//! a known bus, every charger on a known transformer post).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::entity::{
    Asset, AssetKind, Entity, Junction, Pipe, PowerLine, PowerSwitch, Pump, Sites, Tank, Valve,
    ValveType, WasteKind, WasteSites, WaterSource,
};
pub use crate::entity::{Intersection, IntersectionControl};
use crate::formats::epanet::EpanetNetwork;
use crate::formats::matpower::MatpowerCase;
use crate::geometry::{BBox, Boundary, LonLat};
use crate::id::{EntityId, EntityKind};
use crate::network::{PowerBranchEdge, PowerNetwork, RoadNetwork, WaterLinkRef, WaterNetwork};
use crate::spatial::SpatialIndex;
use crate::water::ids::{WaterIds, WaterSpace};

/// A named neighbourhood (cartier) with its population, for demand models.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbourhood {
    pub name: String,
    pub centre: LonLat,
    pub population: u32,
    pub jobs: u32,
}

/// A road where traffic enters and leaves the city, with its morning peak-hour flows.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub name: String,
    pub location: LonLat,
    pub peak_inbound_veh_h: f64,
    pub peak_outbound_veh_h: f64,
}

/// What a city is, apart from its assets.
#[derive(Debug, Clone, PartialEq)]
pub struct CityMeta {
    pub name: String,
    pub population: u64,
    pub timezone: String,
    pub centre: LonLat,
    pub boundary: Option<Boundary>,
    pub neighbourhoods: Vec<Neighbourhood>,
    pub gateways: Vec<Gateway>,
    /// Signalised intersections and roundabouts.
    pub intersections: Vec<Intersection>,
    /// Where collection trucks start and unload (`[waste]` of city.toml), when given.
    pub waste_sites: Option<WasteSites>,
    /// The EV facts of `[ev]` in city.toml.
    pub ev: EvFacts,
}

/// What a city's bundle says about its electric vehicles (`[ev]` of city.toml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvFacts {
    /// Real charging sessions (a Dundee-format export) the EV demand is calibrated on, as the
    /// manifest names it: relative to the bundle's folder.
    pub sessions: Option<String>,
    /// Today's share of the city's cars that are electric (0–1): the live feed's and the
    /// scenarios' default.
    pub share: Option<f64>,
    /// Passenger cars per 1,000 inhabitants: with the population and a share, the EV fleet.
    pub cars_per_1000: Option<f64>,
    /// Electric buses of the city's public transport, and the kilometres each drives a day.
    pub electric_buses: Option<usize>,
    pub bus_km_per_day: Option<f64>,
}

/// A fact a computation needs that the city's bundle does not give.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{city}: city.toml gives no {what}")]
pub struct MissingCityFact {
    pub city: String,
    pub what: String,
}

/// An inconsistency between the layers of a city.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CityError {
    #[error("entity id {0} is used twice")]
    DuplicateId(EntityId),
    #[error("{entity} stands on bus {bus}, which the power case does not have")]
    UnknownBus { entity: EntityId, bus: u32 },
    #[error("EPANET element `{0}` has no [COORDINATES] entry")]
    MissingCoordinates(String),
    #[error(
        "{charger} connects to {post}, which is not a substation or transformer post of the city"
    )]
    UnknownGridConnection { charger: EntityId, post: EntityId },
}

pub struct CityModel {
    pub meta: CityMeta,
    entities: Vec<Entity>,
    by_id: HashMap<EntityId, usize>,
    pub road: RoadNetwork,
    pub power: PowerNetwork,
    pub water: WaterNetwork,
    /// The power case the power entities were built from, for the load-flow solver.
    pub power_case: Option<MatpowerCase>,
    /// The EPANET network the water entities were built from, for the hydraulic solver.
    pub water_network: Option<EpanetNetwork>,
    /// Isolation valves: (pipe, node next to the valve).
    pub water_valves: Vec<(String, String)>,
    /// The entity id of every EPANET node and link, both ways ([`crate::water::ids`]).
    pub water_ids: WaterIds,
    spatial: SpatialIndex,
}

impl CityModel {
    /// Where the trucks of `stream` start and unload, from the bundle's `[waste]` table.
    pub fn collection_sites(&self, stream: WasteKind) -> Result<Sites, MissingCityFact> {
        let missing = |what: String| MissingCityFact {
            city: self.meta.name.clone(),
            what,
        };
        self.meta
            .waste_sites
            .as_ref()
            .ok_or_else(|| missing("[waste] depot and disposal sites".into()))?
            .for_stream(stream)
            .ok_or_else(|| {
                missing(format!(
                    "[[waste.disposal]] site that takes the {} stream",
                    stream.name()
                ))
            })
    }

    /// Assemble a city from the entities of its GeoJSON layers, its power case and its water
    /// network. Lines and switches come from the case's branches, water elements from the network.
    pub fn new(
        meta: CityMeta,
        mut entities: Vec<Entity>,
        power_case: Option<MatpowerCase>,
        water_network: Option<EpanetNetwork>,
    ) -> Result<CityModel, CityError> {
        if let Some(case) = &power_case {
            add_power_branches(&mut entities, case)?;
        }
        let water_ids = water_network
            .as_ref()
            .map(WaterIds::assign)
            .unwrap_or_default();
        if let Some(net) = &water_network {
            entities.extend(water_entities(net, &water_ids)?);
        }
        let mut by_id = HashMap::with_capacity(entities.len());
        for (i, e) in entities.iter().enumerate() {
            if by_id.insert(e.id.clone(), i).is_some() {
                return Err(CityError::DuplicateId(e.id.clone()));
            }
        }
        for e in &entities {
            if let Asset::EvCharger(c) = &e.asset {
                let ok = by_id.get(&c.grid_connection).is_some_and(|&i| {
                    matches!(
                        entities[i].kind(),
                        AssetKind::TransformerPost | AssetKind::Substation
                    )
                });
                if !ok {
                    return Err(CityError::UnknownGridConnection {
                        charger: e.id.clone(),
                        post: c.grid_connection.clone(),
                    });
                }
            }
        }
        let road = RoadNetwork::build(&entities);
        let power = build_power_network(&entities, &by_id, power_case.as_ref())?;
        let water = build_water_network(&by_id, water_network.as_ref(), &water_ids);
        let spatial = SpatialIndex::build(
            entities.iter().enumerate().map(|(i, e)| (i, e.location)),
            meta.centre.lat,
        );
        Ok(CityModel {
            meta,
            entities,
            by_id,
            road,
            power,
            water,
            power_case,
            water_network,
            water_valves: Vec::new(),
            water_ids,
            spatial,
        })
    }

    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    pub fn entity(&self, id: &EntityId) -> Option<&Entity> {
        self.by_id.get(id).map(|&i| &self.entities[i])
    }

    pub fn entity_index(&self, id: &EntityId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn entities_of(&self, kind: AssetKind) -> impl Iterator<Item = &Entity> {
        self.entities.iter().filter(move |e| e.kind() == kind)
    }

    /// The nearest entity of `kind` to `p`, with its distance in metres.
    pub fn nearest(&self, p: LonLat, kind: AssetKind) -> Option<(&Entity, f64)> {
        self.spatial
            .nearest(p)
            .map(|(i, d)| (&self.entities[i], d))
            .find(|(e, _)| e.kind() == kind)
    }

    /// Every entity's index with its ground distance from `p` in metres, nearest first.
    pub fn nearest_all(&self, p: LonLat) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.spatial.nearest(p)
    }

    /// The entity at `index`, to change in a test.
    #[cfg(test)]
    pub(crate) fn entity_mut(&mut self, index: usize) -> &mut Entity {
        &mut self.entities[index]
    }

    /// Entities located inside `bbox`, optionally of one family.
    pub fn within(&self, bbox: &BBox, family: Option<EntityKind>) -> Vec<&Entity> {
        self.spatial
            .within(bbox)
            .into_iter()
            .map(|i| &self.entities[i])
            .filter(|e| family.is_none_or(|f| e.id.kind() == f))
            .collect()
    }

    pub fn bbox(&self) -> BBox {
        match &self.meta.boundary {
            Some(b) => b.bbox(),
            None => BBox::of(self.entities.iter().map(|e| e.location)),
        }
    }

    /// Whether a point lies in the city: inside its boundary, or its bounding box when it has
    /// no boundary.
    pub fn contains(&self, p: LonLat) -> bool {
        match &self.meta.boundary {
            Some(b) => b.contains(p),
            None => self.bbox().contains(p),
        }
    }

    /// The neighbourhood whose centre is nearest to `p` (the city's neighbourhoods are given by
    /// their centres), if the city has any.
    pub fn nearest_neighbourhood(&self, p: LonLat) -> Option<usize> {
        self.meta
            .neighbourhoods
            .iter()
            .enumerate()
            .min_by(|a, b| {
                a.1.centre
                    .distance_m(p)
                    .total_cmp(&b.1.centre.distance_m(p))
            })
            .map(|(k, _)| k)
    }

    pub fn summary(&self) -> CitySummary {
        let count = |k: AssetKind| self.entities_of(k).count();
        let street_m: f64 = self
            .entities
            .iter()
            .filter_map(|e| match &e.asset {
                Asset::StreetSegment(s) => Some(s.length_m),
                _ => None,
            })
            .sum();
        let mut bins_by_kind = BTreeMap::new();
        for e in self.entities_of(AssetKind::WasteBin) {
            if let Asset::WasteBin(b) = &e.asset {
                *bins_by_kind
                    .entry(b.stored_waste_kind.name().to_string())
                    .or_insert(0) += 1;
            }
        }
        let charger_sockets = self
            .entities
            .iter()
            .filter_map(|e| match &e.asset {
                Asset::EvCharger(c) => Some(c.sockets.len()),
                _ => None,
            })
            .sum();
        CitySummary {
            name: self.meta.name.clone(),
            population: self.meta.population,
            neighbourhoods: self.meta.neighbourhoods.len(),
            street_segments: count(AssetKind::StreetSegment),
            street_km: (street_m / 1000.0 * 100.0).round() / 100.0,
            road_nodes: self.road.graph.node_count(),
            signalised_intersections: self
                .meta
                .intersections
                .iter()
                .filter(|i| i.control == IntersectionControl::TrafficSignals)
                .count(),
            roundabouts: self
                .meta
                .intersections
                .iter()
                .filter(|i| i.control == IntersectionControl::Roundabout)
                .count(),
            substations: count(AssetKind::Substation),
            transformer_posts: count(AssetKind::TransformerPost),
            power_lines: count(AssetKind::PowerLine),
            switches: count(AssetKind::PowerSwitch),
            water_sources: count(AssetKind::WaterSource),
            tanks: count(AssetKind::Tank),
            water_junctions: count(AssetKind::Junction),
            pipes: count(AssetKind::Pipe),
            pumps: count(AssetKind::Pump),
            valves: count(AssetKind::Valve),
            bins: count(AssetKind::WasteBin),
            bins_by_kind,
            chargers: count(AssetKind::EvCharger),
            charger_sockets,
            entities: self.entities.len(),
            bbox: self.bbox().to_array(),
        }
    }
}

/// The counts `twin city info` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CitySummary {
    pub name: String,
    pub population: u64,
    pub neighbourhoods: usize,
    pub street_segments: usize,
    pub street_km: f64,
    pub road_nodes: usize,
    pub signalised_intersections: usize,
    pub roundabouts: usize,
    pub substations: usize,
    pub transformer_posts: usize,
    pub power_lines: usize,
    pub switches: usize,
    pub water_sources: usize,
    pub tanks: usize,
    pub water_junctions: usize,
    pub pipes: usize,
    pub pumps: usize,
    pub valves: usize,
    pub bins: usize,
    pub bins_by_kind: BTreeMap<String, usize>,
    pub chargers: usize,
    pub charger_sockets: usize,
    pub entities: usize,
    /// `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: [f64; 4],
}

/// Lines (closed branches) and tie switches (open branches) of the case become entities
/// `power:line-<row>` and `power:sw-<row>`; transformers (tap ratio set) belong to substations.
/// Transformer posts take their peak demand from their bus.
fn add_power_branches(entities: &mut Vec<Entity>, case: &MatpowerCase) -> Result<(), CityError> {
    let mut bus_location: HashMap<u32, LonLat> = HashMap::new();
    for e in entities.iter_mut() {
        let bus = match &mut e.asset {
            Asset::Substation(s) => s.bus,
            Asset::TransformerPost(t) => {
                if let Some(b) = case.bus.iter().find(|b| b.id == t.bus) {
                    t.peak_kw = b.pd_mw * 1000.0;
                    t.peak_kvar = b.qd_mvar * 1000.0;
                }
                t.bus
            }
            _ => continue,
        };
        if !case.bus.iter().any(|b| b.id == bus) {
            return Err(CityError::UnknownBus {
                entity: e.id.clone(),
                bus,
            });
        }
        bus_location.insert(bus, e.location);
    }
    let base_kv: HashMap<u32, f64> = case.bus.iter().map(|b| (b.id, b.base_kv)).collect();
    for (row, br) in case.branch.iter().enumerate() {
        if br.ratio != 0.0 {
            continue;
        }
        let (Some(a), Some(b)) = (bus_location.get(&br.from), bus_location.get(&br.to)) else {
            continue;
        };
        let location = LonLat::new((a.lon + b.lon) / 2.0, (a.lat + b.lat) / 2.0);
        let kv = base_kv.get(&br.from).copied().unwrap_or(20.0);
        let z_base = kv * kv / case.base_mva;
        let (id, asset) = if br.in_service {
            let ampacity_a = br.rate_a_mva * 1e6 / (3f64.sqrt() * kv * 1e3);
            let line = PowerLine {
                from_bus: br.from,
                to_bus: br.to,
                r_ohm: br.r_pu * z_base,
                x_ohm: br.x_pu * z_base,
                ampacity_a,
                length_m: a.distance_m(*b),
                in_service: true,
            };
            (format!("line-{}", row + 1), Asset::PowerLine(line))
        } else {
            let switch = PowerSwitch {
                from_bus: br.from,
                to_bus: br.to,
                normally_open: true,
            };
            (format!("sw-{}", row + 1), Asset::PowerSwitch(switch))
        };
        let id = EntityId::new(EntityKind::Power, id).expect("generated ids are valid");
        entities.push(Entity::new(id, location, asset));
    }
    Ok(())
}

/// Entities for every node and link of an EPANET network, with their EPANET ids as
/// `source_id`. Static attributes are converted from the file's units (US customary or SI, by
/// its `UNITS`) to the twin's: metres, millimetres, cubic metres per second.
fn water_entities(net: &EpanetNetwork, ids: &WaterIds) -> Result<Vec<Entity>, CityError> {
    let flow_to_m3s = net.flow_units.to_m3s();
    let units = WaterUnits::of(net);
    let at = |id: &str| -> Result<LonLat, CityError> {
        net.coordinates
            .get(id)
            .map(|&(x, y)| LonLat::new(x, y))
            .ok_or_else(|| CityError::MissingCoordinates(id.to_string()))
    };
    let entity = |space: WaterSpace, epanet_id: &str, location: LonLat, asset: Asset| {
        let id = match space {
            WaterSpace::Node => ids.node(epanet_id),
            WaterSpace::Link => ids.link(epanet_id),
        }
        .expect("every element has an id")
        .clone();
        let mut e = Entity::new(id, location, asset);
        e.source_id = Some(epanet_id.to_string());
        e
    };
    let mid = |a: &str, b: &str| -> Result<LonLat, CityError> {
        let (p, q) = (at(a)?, at(b)?);
        Ok(LonLat::new((p.lon + q.lon) / 2.0, (p.lat + q.lat) / 2.0))
    };
    let mut out = Vec::with_capacity(net.node_count() + net.link_count());
    for r in &net.reservoirs {
        out.push(entity(
            WaterSpace::Node,
            &r.id,
            at(&r.id)?,
            Asset::WaterSource(WaterSource {
                head_m: r.head * units.length_m,
            }),
        ));
    }
    for t in &net.tanks {
        let tank = Tank {
            elevation_m: t.elevation * units.length_m,
            init_level_m: t.init_level * units.length_m,
            min_level_m: t.min_level * units.length_m,
            max_level_m: t.max_level * units.length_m,
            diameter_m: t.diameter * units.length_m,
        };
        out.push(entity(
            WaterSpace::Node,
            &t.id,
            at(&t.id)?,
            Asset::Tank(tank),
        ));
    }
    for j in &net.junctions {
        let junction = Junction {
            elevation_m: j.elevation * units.length_m,
            base_demand_m3s: j.base_demand * flow_to_m3s,
        };
        out.push(entity(
            WaterSpace::Node,
            &j.id,
            at(&j.id)?,
            Asset::Junction(junction),
        ));
    }
    for p in &net.pipes {
        let pipe = Pipe {
            from_node: p.node1.clone(),
            to_node: p.node2.clone(),
            length_m: p.length * units.length_m,
            diameter_mm: p.diameter * units.diameter_mm,
            roughness: p.roughness,
            open: !p.status.eq_ignore_ascii_case("closed"),
        };
        out.push(entity(
            WaterSpace::Link,
            &p.id,
            mid(&p.node1, &p.node2)?,
            Asset::Pipe(pipe),
        ));
    }
    for p in &net.pumps {
        let pump = Pump {
            from_node: p.node1.clone(),
            to_node: p.node2.clone(),
        };
        out.push(entity(
            WaterSpace::Link,
            &p.id,
            mid(&p.node1, &p.node2)?,
            Asset::Pump(pump),
        ));
    }
    for v in &net.valves {
        let valve = Valve {
            from_node: v.node1.clone(),
            to_node: v.node2.clone(),
            diameter_mm: v.diameter * units.diameter_mm,
            valve_type: ValveType::from_epanet(&v.valve_type).unwrap_or(ValveType::Tcv),
            setting: v.setting.parse().unwrap_or(0.0),
            isolation: net.has_tag("LINK", &v.id, "isolation"),
        };
        out.push(entity(
            WaterSpace::Link,
            &v.id,
            mid(&v.node1, &v.node2)?,
            Asset::Valve(valve),
        ));
    }
    Ok(out)
}

/// Factors from an EPANET file's length and diameter units to metres and millimetres (EPANET
/// 2.2 manual, Table 3.1: US customary flow units mean feet and inches, SI ones metres and
/// millimetres).
struct WaterUnits {
    length_m: f64,
    diameter_mm: f64,
}

impl WaterUnits {
    fn of(net: &EpanetNetwork) -> WaterUnits {
        if net.flow_units.is_us() {
            WaterUnits {
                length_m: 0.3048,
                diameter_mm: 25.4,
            }
        } else {
            WaterUnits {
                length_m: 1.0,
                diameter_mm: 1.0,
            }
        }
    }
}

fn build_power_network(
    entities: &[Entity],
    by_id: &HashMap<EntityId, usize>,
    case: Option<&MatpowerCase>,
) -> Result<PowerNetwork, CityError> {
    let mut net = PowerNetwork::default();
    let Some(case) = case else { return Ok(net) };
    let mut entity_at_bus: HashMap<u32, usize> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        match &e.asset {
            Asset::Substation(s) => {
                entity_at_bus.insert(s.bus, i);
            }
            Asset::TransformerPost(t) => {
                entity_at_bus.insert(t.bus, i);
            }
            _ => {}
        }
    }
    for b in &case.bus {
        net.add_bus(b.id, entity_at_bus.get(&b.id).copied());
    }
    for (row, br) in case.branch.iter().enumerate() {
        let (Some(a), Some(b)) = (net.bus_index(br.from), net.bus_index(br.to)) else {
            continue;
        };
        let entity = [format!("line-{}", row + 1), format!("sw-{}", row + 1)]
            .into_iter()
            .filter_map(|local| EntityId::new(EntityKind::Power, local).ok())
            .find_map(|id| by_id.get(&id).copied());
        net.graph.add_edge(
            a,
            b,
            PowerBranchEdge {
                branch: row,
                entity,
            },
        );
    }
    Ok(net)
}

fn build_water_network(
    by_id: &HashMap<EntityId, usize>,
    inp: Option<&EpanetNetwork>,
    ids: &WaterIds,
) -> WaterNetwork {
    let mut net = WaterNetwork::default();
    let Some(inp) = inp else { return net };
    for name in inp.node_ids() {
        if let Some(&i) = ids.node(name).and_then(|id| by_id.get(id)) {
            net.add_node(name, i);
        }
    }
    let links = inp
        .pipes
        .iter()
        .map(|p| (&p.id, &p.node1, &p.node2))
        .chain(inp.pumps.iter().map(|p| (&p.id, &p.node1, &p.node2)))
        .chain(inp.valves.iter().map(|v| (&v.id, &v.node1, &v.node2)));
    for (id, a, b) in links {
        let entity = ids.link(id).and_then(|id| by_id.get(id)).copied();
        if let (Some(i), Some(na), Some(nb)) = (entity, net.node_index(a), net.node_index(b)) {
            net.graph.add_edge(na, nb, WaterLinkRef { entity: i });
        }
    }
    net
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::entity::{
        ChargerSite, EvCharger, RoadClass, Socket, StreetSegment, TransformerPost, WasteBin,
        WasteKind,
    };

    fn id(s: &str) -> EntityId {
        s.parse().unwrap()
    }

    /// A city of one street, one transformer post, one bin and one two-socket charger.
    pub(crate) fn tiny_city() -> CityModel {
        let a = LonLat::new(24.86, 44.85);
        let b = LonLat::new(24.87, 44.85);
        let street = StreetSegment {
            road_class: RoadClass::Residential,
            geometry: vec![a, b],
            length_m: a.distance_m(b),
            lanes: 2,
            speed_limit_kmh: 50.0,
            capacity_veh_h: 500.0,
            oneway: false,
            from_node: 1,
            to_node: 2,
        };
        let post = TransformerPost {
            bus: 2,
            rated_kva: 400.0,
            customers: 120,
            population: 300,
            peak_kw: 0.0,
            peak_kvar: 0.0,
        };
        let charger = EvCharger {
            site: ChargerSite::Public,
            operator: "Primăria Pitești".into(),
            sockets: vec![
                Socket {
                    socket_type: "Type2".into(),
                    max_power_kw: 22.0,
                },
                Socket {
                    socket_type: "CCS2".into(),
                    max_power_kw: 50.0,
                },
            ],
            grid_connection: id("power:pt-1"),
        };
        let entities = vec![
            Entity::new(id("street:1"), a, Asset::StreetSegment(street)),
            Entity::new(id("power:pt-1"), b, Asset::TransformerPost(post)),
            Entity::new(
                id("bin:1"),
                a,
                Asset::WasteBin(WasteBin {
                    stored_waste_kind: WasteKind::Paper,
                    volume_l: 1100.0,
                    collection_point: 1,
                }),
            ),
            Entity::new(id("charger:1"), b, Asset::EvCharger(charger)),
        ];
        let meta = CityMeta {
            name: "tiny".into(),
            population: 300,
            timezone: "Europe/Bucharest".into(),
            centre: a,
            boundary: None,
            neighbourhoods: vec![],
            gateways: vec![],
            intersections: vec![],
            waste_sites: None,
            ev: EvFacts::default(),
        };
        CityModel::new(meta, entities, None, None).unwrap()
    }

    #[test]
    fn tiny_city_has_a_two_way_street_and_finds_nearest() {
        let city = tiny_city();
        assert_eq!(city.road.graph.edge_count(), 2);
        let (e, d) = city
            .nearest(LonLat::new(24.8701, 44.8501), AssetKind::WasteBin)
            .unwrap();
        assert_eq!(e.id, id("bin:1"));
        assert!(d > 700.0 && d < 800.0, "{d}");
        assert_eq!(city.summary().charger_sockets, 2);
    }

    #[test]
    fn a_charger_on_an_unknown_post_is_refused() {
        let city = tiny_city();
        let mut entities: Vec<Entity> = city.entities().to_vec();
        if let Asset::EvCharger(c) = &mut entities[3].asset {
            c.grid_connection = id("power:pt-9");
        }
        let err = CityModel::new(city.meta.clone(), entities, None, None)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "charger:1 connects to power:pt-9, which is not a substation or transformer post of the city"
        );
    }
}
