//! What the FIWARE Smart Data Models ask of the city's entities beyond the twin's own records:
//! values in the models' vocabularies, the attributes their schemas require, the `Road`
//! entities a `RoadSegment` refers to, and the measured attributes the EPANET models nest as
//! objects. The test `tests/ngsi_ld/schemas.py` validates the result against the published
//! JSON Schemas (data/smart-data-models/).
//!
//! Mappings that lose something, written down here and in docs/ngsi-ld.md:
//! - `storedWasteKind`: the twin's `bio` is the model's `organic`, `residual` is `other`, and
//!   `plastic-metal` (Romania's yellow bins) is `plastic` (the model has one kind per bin);
//! - `socketType`: `CCS2` (Combo 2) is the model's `CCS/SAE`, `Schuko` its `Wall_Euro`, a
//!   type it does not list (a bus depot's `Pantograph`) `Other`; the list holds each type
//!   once, the sockets are counted by `socketNumber`;
//! - `roadClass` of a `RoadSegment` (the model's DATEX-like classes): motorway and trunk are
//!   `NATIONAL_HIGHWAY`, primary and secondary `MAJOR_CITY_ROAD`, tertiary `MINOR_CITY_ROAD`,
//!   residential, living streets and unclassified `OTHER_PUBLIC_ROAD`, service `SERVICE_ROAD`;
//!   a `Road` keeps OpenStreetMap's classes, as its model does (living streets: residential).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::model::urn;
use crate::entity::RoadClass;
use crate::entity::{Asset, AssetKind};
use crate::{CityModel, LonLat};

/// The measured attributes the EPANET models (dataModel.WaterDistributionManagementEPANET)
/// define as objects with a `value` (and the observing device): their values are given as
/// `{"value": x, "unitCode": …}`, as the models' examples do.
const NESTED_WATER_MEASUREMENTS: &[&str] = &[
    "pressure",
    "head",
    "flow",
    "velocity",
    "quality",
    "supply",
    "sourceMassInflow",
];

/// The EVChargingStation model's socket types.
const SOCKET_TYPES: &[&str] = &[
    "Caravan_Mains_Socket",
    "CHAdeMO",
    "CCS/SAE",
    "Dual_CHAdeMO",
    "Dual_J-1772",
    "Dual_Mennekes",
    "J-1772",
    "Mennekes",
    "Other",
    "Tesla",
    "Type2",
    "Type3",
    "Wall_Euro",
];

/// Whether the model of `kind` nests the value of the measured attribute `name` in an object.
pub fn nests_value(kind: AssetKind, name: &str) -> bool {
    matches!(
        kind,
        AssetKind::Junction
            | AssetKind::Tank
            | AssetKind::WaterSource
            | AssetKind::Pipe
            | AssetKind::Pump
            | AssetKind::Valve
    ) && NESTED_WATER_MEASUREMENTS.contains(&name)
}

/// A static attribute's value in its model's vocabulary (the twin's own value otherwise).
pub fn model_value(kind: AssetKind, name: &str, value: &Json) -> Json {
    match (kind, name) {
        (AssetKind::WasteBin, "storedWasteKind") => json!(match value.as_str() {
            Some("bio") => "organic",
            Some("residual") => "other",
            Some("plastic-metal") => "plastic",
            Some(other) => other,
            None => return value.clone(),
        }),
        (AssetKind::EvCharger, "socketType") => {
            let mut types: Vec<&str> = Vec::new();
            for t in value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
            {
                let t = match t {
                    "CCS2" | "CCS1" | "CCS" => "CCS/SAE",
                    "Schuko" => "Wall_Euro",
                    t if SOCKET_TYPES.contains(&t) => t,
                    _ => "Other",
                };
                if !types.contains(&t) {
                    types.push(t);
                }
            }
            json!(types)
        }
        (AssetKind::StreetSegment, "roadClass") => json!(match value.as_str() {
            Some("motorway" | "trunk") => "NATIONAL_HIGHWAY",
            Some("primary" | "secondary") => "MAJOR_CITY_ROAD",
            Some("tertiary") => "MINOR_CITY_ROAD",
            Some("service") => "SERVICE_ROAD",
            Some(_) => "OTHER_PUBLIC_ROAD",
            None => return value.clone(),
        }),
        _ => value.clone(),
    }
}

/// A road: the street segments that share a name (a segment without a name is a road of its
/// own).
#[derive(Debug, Clone)]
pub struct Road {
    pub id: String,
    pub name: String,
    /// The highest class among its segments.
    pub road_class: RoadClass,
    pub segments: Vec<usize>,
    pub length_m: f64,
}

/// What the models need that is computed once per city: links' end nodes, roads.
#[derive(Debug, Clone, Default)]
pub struct ModelIndex {
    /// Link entity → (its `startsAt` node entity, its `endsAt` node entity).
    ends: HashMap<usize, (usize, usize)>,
    roads: Vec<Road>,
    road_of: HashMap<usize, usize>,
}

/// The name a segment without one is given: says it has none, and which it is.
fn unnamed(local_id: &str) -> String {
    format!("unnamed street (segment {local_id})")
}

/// A road's URN from its name: lower-case letters and digits, other runs as `-`.
fn road_urn(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    format!("urn:ngsi-ld:Road:{}", slug.trim_matches('-'))
}

impl ModelIndex {
    pub fn new(city: &CityModel) -> ModelIndex {
        let mut index = ModelIndex::default();
        let node = |name: &str| {
            city.water
                .node_index(name)
                .map(|n| city.water.graph[n].entity)
        };
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, e) in city.entities().iter().enumerate() {
            let link = match &e.asset {
                Asset::Pipe(p) => Some((&p.from_node, &p.to_node)),
                Asset::Valve(v) => Some((&v.from_node, &v.to_node)),
                Asset::Pump(p) => Some((&p.from_node, &p.to_node)),
                _ => None,
            };
            if let Some((from, to)) = link
                && let (Some(a), Some(b)) = (node(from), node(to))
            {
                index.ends.insert(i, (a, b));
            }
            if let Asset::StreetSegment(s) = &e.asset {
                let name = e.name.clone().unwrap_or_else(|| unnamed(e.id.local()));
                let r = *by_name.entry(name.clone()).or_insert_with(|| {
                    index.roads.push(Road {
                        id: road_urn(&name),
                        name,
                        road_class: s.road_class,
                        segments: Vec::new(),
                        length_m: 0.0,
                    });
                    index.roads.len() - 1
                });
                let road = &mut index.roads[r];
                road.segments.push(i);
                road.length_m += s.length_m;
                if s.road_class < road.road_class {
                    road.road_class = s.road_class;
                }
                index.road_of.insert(i, r);
            }
        }
        index
    }

    /// The roads, in the order their first segment appears in the city.
    pub fn roads(&self) -> &[Road] {
        &self.roads
    }

    /// The attributes entity `i`'s model requires or defines that the twin's layers do not
    /// carry, in normalized form.
    pub fn extra_attributes(&self, city: &CityModel, i: usize) -> Vec<(String, Json)> {
        let e = &city.entities()[i];
        let property = |v: Json| json!({"type": "Property", "value": v});
        let relationship = |j: usize| {
            let n = &city.entities()[j];
            json!({"type": "Relationship", "object": urn(n.kind(), &n.id)})
        };
        let mut out = Vec::new();
        if let Some(&(a, b)) = self.ends.get(&i) {
            out.push(("startsAt".to_string(), relationship(a)));
            out.push(("endsAt".to_string(), relationship(b)));
        }
        match &e.asset {
            Asset::StreetSegment(s) => {
                if e.name.is_none() {
                    out.push(("name".into(), property(json!(unnamed(e.id.local())))));
                }
                if let Some(&r) = self.road_of.get(&i) {
                    out.push((
                        "refRoad".into(),
                        json!({"type": "Relationship", "object": self.roads[r].id}),
                    ));
                }
                let point = |p: &LonLat| json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [p.lon, p.lat]}});
                if let (Some(first), Some(last)) = (s.geometry.first(), s.geometry.last()) {
                    out.push(("startPoint".into(), point(first)));
                    out.push(("endPoint".into(), point(last)));
                }
                // The twin's traffic is every motor vehicle; it models no access restriction.
                out.push(("allowedVehicleType".into(), property(json!(["anyVehicle"]))));
            }
            Asset::EvCharger(c) => {
                out.push(("capacity".into(), property(json!(c.sockets.len()))));
                out.push(("allowedVehicleType".into(), property(json!(["car"]))));
            }
            Asset::WaterSource(w) => {
                let mut head = property(json!(w.head_m));
                head["unitCode"] = json!("MTR");
                out.push(("reservoirHead".into(), head));
            }
            Asset::Pump(_) | Asset::Pipe(_) => {
                let open = match &e.asset {
                    Asset::Pipe(p) => p.open,
                    _ => true,
                };
                out.push((
                    "initialStatus".into(),
                    property(json!(if open { "OPEN" } else { "CLOSED" })),
                ));
            }
            Asset::Valve(v) => {
                out.push((
                    "valveType".into(),
                    property(json!(v.valve_type.epanet_name())),
                ));
            }
            _ => {}
        }
        out
    }

    /// Road `r` as a normalized `Road` entity (dataModel.Transportation).
    pub fn road_entity(&self, city: &CityModel, r: usize) -> Map<String, Json> {
        let road = &self.roads[r];
        let class = match road.road_class {
            RoadClass::LivingStreet => "residential",
            c => c.osm_name(),
        };
        let segments: Vec<String> = road
            .segments
            .iter()
            .map(|&i| {
                let e = &city.entities()[i];
                urn(e.kind(), &e.id)
            })
            .collect();
        let mut out = Map::new();
        out.insert("id".into(), json!(road.id));
        out.insert("type".into(), json!("Road"));
        out.insert(
            "name".into(),
            json!({"type": "Property", "value": road.name}),
        );
        out.insert(
            "roadClass".into(),
            json!({"type": "Property", "value": class}),
        );
        out.insert(
            "length".into(),
            json!({"type": "Property", "value": (road.length_m / 10.0).round() / 100.0, "unitCode": "KMT"}),
        );
        out.insert(
            "refRoadSegment".into(),
            json!({"type": "Relationship", "object": segments}),
        );
        out
    }

    /// The road a URN names.
    pub fn road_by_urn(&self, id: &str) -> Option<usize> {
        self.roads.iter().position(|r| r.id == id)
    }
}

/// The NGSI-LD type of the twin's roads (not an asset kind: roads are derived from segments).
pub const ROAD_TYPE: &str = "Road";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_map_to_the_models_enumerations() {
        let bin = AssetKind::WasteBin;
        assert_eq!(
            model_value(bin, "storedWasteKind", &json!("bio")),
            json!("organic")
        );
        assert_eq!(
            model_value(bin, "storedWasteKind", &json!("glass")),
            json!("glass")
        );
        assert_eq!(
            model_value(
                AssetKind::EvCharger,
                "socketType",
                &json!(["Type2", "CCS2", "Type2"])
            ),
            json!(["Type2", "CCS/SAE"])
        );
        assert_eq!(
            model_value(AssetKind::StreetSegment, "roadClass", &json!("tertiary")),
            json!("MINOR_CITY_ROAD")
        );
        assert_eq!(model_value(bin, "binCapacity", &json!(1100)), json!(1100));
        assert!(nests_value(AssetKind::Junction, "pressure"));
        assert!(!nests_value(AssetKind::WasteBin, "pressure"));
    }

    #[test]
    fn every_segment_has_one_road_and_links_their_end_nodes() {
        let city = crate::bundle::load_city_from(&crate::builtin::pitesti()).expect("Pitești");
        let index = ModelIndex::new(&city);
        let segments = city
            .entities()
            .iter()
            .filter(|e| e.kind() == AssetKind::StreetSegment)
            .count();
        let in_roads: usize = index.roads().iter().map(|r| r.segments.len()).sum();
        assert_eq!(in_roads, segments);
        let mut ids: Vec<&str> = index.roads().iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), index.roads().len(), "one URN per road");
        assert!(
            index.roads().len() < segments,
            "named streets group segments"
        );
        for (i, e) in city.entities().iter().enumerate() {
            if matches!(
                e.kind(),
                AssetKind::Pipe | AssetKind::Valve | AssetKind::Pump
            ) {
                let extra = index.extra_attributes(&city, i);
                assert!(
                    extra.iter().any(|(n, _)| n == "startsAt")
                        && extra.iter().any(|(n, _)| n == "endsAt"),
                    "{} has its end nodes",
                    e.id
                );
            }
        }
        assert_eq!(road_urn("Bd. Republicii"), "urn:ngsi-ld:Road:bd-republicii");
    }
}
