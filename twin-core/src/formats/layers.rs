//! The GeoJSON layers of a city bundle, with Smart Data Model property names:
//! streets (RoadSegment), power buses (substations and transformer posts), waste containers
//! (WasteContainer) and charging stations (EVChargingStation). See docs/formats.md.
//!
//! Files are written one feature per line, keys sorted and coordinates rounded to 1e-7°
//! (about 1 cm), so the same city always gives the same bytes and diffs stay readable.

use serde_json::{Map, Value as Json, json};

use crate::entity::{
    Asset, ChargerSite, Entity, EvCharger, Intersection, IntersectionControl, RoadClass, Socket,
    StreetSegment, Substation, TransformerPost, WasteBin, WasteKind,
};
use crate::geometry::LonLat;
use crate::id::{EntityId, EntityKind};
use crate::quantity::Quantity;
use crate::reading::check_value;

/// An error in one feature of a layer file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("feature {index}{}: {message}", id.as_ref().map(|i| format!(" ({i})")).unwrap_or_default())]
pub struct FeatureError {
    /// 0-based position in the `features` array.
    pub index: usize,
    pub id: Option<String>,
    pub message: String,
}

/// Which layer a file holds, for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Streets,
    PowerBuses,
    Bins,
    Chargers,
}

/// Smart Data Model metadata that names or describes an asset without changing any answer
/// (a layer's modelled keys are looked up first, so `category` stays modelled for chargers).
const METADATA: &[&str] = &[
    "refWasteContainerModel",
    "serialNumber",
    "color",
    "category",
    "name",
    "description",
    "alternateName",
    "address",
    "areaServed",
    "dataProvider",
    "source",
    "dateCreated",
    "dateModified",
    "seeAlso",
    "owner",
];

impl Layer {
    /// The feature properties of this layer and what the reader does with each (the
    /// Smart Data Models' RoadSegment, WasteContainer and EVChargingStation; a power bus is
    /// the twin's own).
    pub fn keys(self) -> super::FormatKeys {
        use super::FormatKeys;
        match self {
            Layer::Streets => FormatKeys {
                modelled: &[
                    "id",
                    "type",
                    "roadClass",
                    "totalLaneNumber",
                    "oneway",
                    "length",
                    "maximumAllowedSpeed",
                    "capacity",
                    "startNode",
                    "endNode",
                ],
                harmless: METADATA,
                not_modelled: &[
                    (
                        "allowedVehicleType",
                        "restrictions by vehicle type are not in the traffic model",
                    ),
                    (
                        "laneUsage",
                        "per-lane use is not in the traffic model (totalLaneNumber is)",
                    ),
                    (
                        "minimumAllowedSpeed",
                        "a minimum speed is not in the traffic model",
                    ),
                ],
            },
            Layer::PowerBuses => FormatKeys {
                modelled: &[
                    "id",
                    "type",
                    "bus",
                    "ratedPower",
                    "highVoltage",
                    "lowVoltage",
                    "customers",
                    "population",
                ],
                harmless: METADATA,
                not_modelled: &[],
            },
            Layer::Bins => FormatKeys {
                modelled: &[
                    "id",
                    "type",
                    "storedWasteKind",
                    "binCapacity",
                    "collectionPoint",
                    "fillingLevel",
                    "temperature",
                    "status",
                    "dateLastEmptying",
                ],
                harmless: METADATA,
                not_modelled: &[(
                    "cargoWeight",
                    "the bins' fill is modelled by volume (fillingLevel), not weight",
                )],
            },
            Layer::Chargers => FormatKeys {
                modelled: &[
                    "id",
                    "type",
                    "category",
                    "operator",
                    "socketNumber",
                    "socketType",
                    "socketMaxPower",
                    "refGridConnection",
                ],
                harmless: METADATA,
                not_modelled: &[
                    (
                        "capacity",
                        "the vehicles a site takes are its sockets: give socketNumber",
                    ),
                    (
                        "allowedVehicleType",
                        "chargers serve every electric vehicle in the model",
                    ),
                    ("openingHours", "chargers are modelled as open at all hours"),
                ],
            },
        }
    }
}

/// The properties of the intersections layer.
pub const INTERSECTION_KEYS: super::FormatKeys = super::FormatKeys {
    modelled: &["control", "nodes"],
    harmless: METADATA,
    not_modelled: &[],
};

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

fn position(p: LonLat) -> Json {
    json!([round7(p.lon), round7(p.lat)])
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

fn feature(geometry: Json, properties: Map<String, Json>) -> String {
    json!({"type": "Feature", "geometry": geometry, "properties": properties}).to_string()
}

/// Write features as a FeatureCollection, one feature per line.
pub fn feature_collection(features: impl IntoIterator<Item = String>) -> String {
    let body: Vec<String> = features.into_iter().collect();
    format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
        body.join(",\n")
    )
}

/// The GeoJSON of one entity for its layer, or `None` for assets not kept in a GeoJSON layer
/// (lines, switches and water elements live in the MATPOWER and EPANET files).
pub fn entity_feature(e: &Entity) -> Option<String> {
    let mut p = Map::new();
    p.insert("id".into(), json!(e.id.to_string()));
    if let Some(name) = &e.name {
        p.insert("name".into(), json!(name));
    }
    match &e.asset {
        Asset::StreetSegment(s) => {
            p.insert("type".into(), json!("RoadSegment"));
            p.insert("roadClass".into(), json!(s.road_class.osm_name()));
            p.insert("length".into(), json!(round_to(s.length_m, 2)));
            p.insert("totalLaneNumber".into(), json!(s.lanes));
            p.insert(
                "maximumAllowedSpeed".into(),
                json!(round_to(s.speed_limit_kmh, 1)),
            );
            p.insert("capacity".into(), json!(round_to(s.capacity_veh_h, 0)));
            p.insert("oneway".into(), json!(s.oneway));
            p.insert("startNode".into(), json!(s.from_node));
            p.insert("endNode".into(), json!(s.to_node));
            let coords: Vec<Json> = s.geometry.iter().map(|q| position(*q)).collect();
            Some(feature(
                json!({"type": "LineString", "coordinates": coords}),
                p,
            ))
        }
        Asset::Substation(s) => {
            p.insert("type".into(), json!("Substation"));
            p.insert("bus".into(), json!(s.bus));
            p.insert("ratedPower".into(), json!(s.rated_kva));
            p.insert("highVoltage".into(), json!(s.high_kv));
            p.insert("lowVoltage".into(), json!(s.low_kv));
            Some(feature(
                json!({"type": "Point", "coordinates": position(e.location)}),
                p,
            ))
        }
        Asset::TransformerPost(t) => {
            p.insert("type".into(), json!("TransformerPost"));
            p.insert("bus".into(), json!(t.bus));
            p.insert("ratedPower".into(), json!(t.rated_kva));
            p.insert("customers".into(), json!(t.customers));
            p.insert("population".into(), json!(t.population));
            Some(feature(
                json!({"type": "Point", "coordinates": position(e.location)}),
                p,
            ))
        }
        Asset::WasteBin(b) => {
            p.insert("type".into(), json!("WasteContainer"));
            p.insert("storedWasteKind".into(), json!(b.stored_waste_kind.name()));
            p.insert("binCapacity".into(), json!(b.volume_l));
            p.insert("collectionPoint".into(), json!(b.collection_point));
            Some(feature(
                json!({"type": "Point", "coordinates": position(e.location)}),
                p,
            ))
        }
        Asset::EvCharger(c) => {
            p.insert("type".into(), json!("EVChargingStation"));
            p.insert("category".into(), json!(c.site.name()));
            p.insert("operator".into(), json!(c.operator));
            p.insert("socketNumber".into(), json!(c.sockets.len()));
            p.insert(
                "socketType".into(),
                json!(
                    c.sockets
                        .iter()
                        .map(|s| s.socket_type.clone())
                        .collect::<Vec<_>>()
                ),
            );
            p.insert(
                "socketMaxPower".into(),
                json!(c.sockets.iter().map(|s| s.max_power_kw).collect::<Vec<_>>()),
            );
            p.insert(
                "refGridConnection".into(),
                json!(c.grid_connection.to_string()),
            );
            Some(feature(
                json!({"type": "Point", "coordinates": position(e.location)}),
                p,
            ))
        }
        _ => None,
    }
}

/// The GeoJSON of a controlled intersection (OSM tag values for `control`).
pub fn intersection_feature(location: LonLat, control: &str, name: &str, nodes: &[i64]) -> String {
    let mut p = Map::new();
    p.insert("control".into(), json!(control));
    if !name.is_empty() {
        p.insert("name".into(), json!(name));
    }
    p.insert("nodes".into(), json!(nodes));
    feature(
        json!({"type": "Point", "coordinates": position(location)}),
        p,
    )
}

/// Parse a layer file as JSON.
fn parse_collection(text: &str) -> Result<Json, FeatureError> {
    super::json::from_str_strict(text).map_err(|e| FeatureError {
        index: 0,
        id: None,
        message: format!("not JSON at line {}, column {}: {e}", e.line(), e.column()),
    })
}

/// The `features` of a FeatureCollection.
fn collection_features(root: &Json) -> Result<&Vec<Json>, FeatureError> {
    root.get("features")
        .and_then(Json::as_array)
        .ok_or_else(|| FeatureError {
            index: 0,
            id: None,
            message: "not a GeoJSON FeatureCollection".into(),
        })
}

/// Read the intersections layer.
pub fn read_intersections(text: &str) -> Result<Vec<Intersection>, FeatureError> {
    let root = parse_collection(text)?;
    let features = collection_features(&root)?;
    features
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let r = FeatureReader::new(index, f)?;
            r.check_keys(&INTERSECTION_KEYS)?;
            let control = match r.text("control")? {
                "traffic_signals" => IntersectionControl::TrafficSignals,
                "roundabout" => IntersectionControl::Roundabout,
                other => {
                    return Err(r.err(format!(
                        "control `{other}` is not traffic_signals or roundabout"
                    )));
                }
            };
            let nodes = r
                .props
                .get("nodes")
                .and_then(Json::as_array)
                .and_then(|a| a.iter().map(Json::as_i64).collect::<Option<Vec<i64>>>())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| r.err("property `nodes` is missing or not a list of node ids"))?;
            Ok(Intersection {
                control,
                location: r.point()?,
                name: r.name(),
                nodes,
            })
        })
        .collect()
}

/// Read a layer file's text into entities.
pub fn read_layer(text: &str, layer: Layer) -> Result<Vec<Entity>, FeatureError> {
    let root = parse_collection(text)?;
    let features = collection_features(&root)?;
    let mut out = Vec::with_capacity(features.len());
    for (index, f) in features.iter().enumerate() {
        let reader = FeatureReader::new(index, f)?;
        out.push(reader.entity(layer)?);
    }
    Ok(out)
}

/// Reads the properties of one feature, with errors naming the feature.
struct FeatureReader<'a> {
    index: usize,
    id_text: Option<String>,
    props: &'a Map<String, Json>,
    geometry: &'a Json,
}

impl<'a> FeatureReader<'a> {
    fn new(index: usize, f: &'a Json) -> Result<FeatureReader<'a>, FeatureError> {
        let props = f
            .get("properties")
            .and_then(Json::as_object)
            .ok_or_else(|| FeatureError {
                index,
                id: None,
                message: "feature has no properties".into(),
            })?;
        let id_text = props.get("id").and_then(Json::as_str).map(str::to_string);
        let geometry = f.get("geometry").ok_or_else(|| FeatureError {
            index,
            id: id_text.clone(),
            message: "feature has no geometry".into(),
        })?;
        Ok(FeatureReader {
            index,
            id_text,
            props,
            geometry,
        })
    }

    fn err(&self, message: impl Into<String>) -> FeatureError {
        FeatureError {
            index: self.index,
            id: self.id_text.clone(),
            message: message.into(),
        }
    }

    fn id(&self, family: EntityKind) -> Result<EntityId, FeatureError> {
        let text = self
            .id_text
            .as_deref()
            .ok_or_else(|| self.err("property `id` is missing"))?;
        let id: EntityId = text.parse().map_err(|e| self.err(format!("{e}")))?;
        if id.kind() != family {
            return Err(self.err(format!(
                "id `{id}` should be a `{family}:` id in this layer"
            )));
        }
        Ok(id)
    }

    fn number(&self, key: &str) -> Result<f64, FeatureError> {
        let v = self
            .props
            .get(key)
            .ok_or_else(|| self.err(format!("property `{key}` is missing")))?;
        v.as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.err(format!("property `{key}` = {v} is not a finite number")))
    }

    fn positive(&self, key: &str) -> Result<f64, FeatureError> {
        let x = self.number(key)?;
        if x <= 0.0 {
            return Err(self.err(format!("property `{key}` = {x} must be positive")));
        }
        Ok(x)
    }

    fn whole(&self, key: &str) -> Result<u32, FeatureError> {
        let x = self.number(key)?;
        if x < 0.0 || x.fract() != 0.0 || x > u32::MAX as f64 {
            return Err(self.err(format!("property `{key}` = {x} is not a whole number")));
        }
        Ok(x as u32)
    }

    fn text(&self, key: &str) -> Result<&'a str, FeatureError> {
        self.props
            .get(key)
            .and_then(Json::as_str)
            .ok_or_else(|| self.err(format!("property `{key}` is missing or not a string")))
    }

    fn name(&self) -> Option<String> {
        self.props
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_string)
    }

    fn coordinates(&self, expected: &str) -> Result<&'a Json, FeatureError> {
        let kind = self
            .geometry
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("");
        if kind != expected {
            return Err(self.err(format!("geometry is `{kind}`, expected {expected}")));
        }
        self.geometry
            .get("coordinates")
            .ok_or_else(|| self.err("geometry has no coordinates"))
    }

    fn lonlat(&self, c: &Json) -> Result<LonLat, FeatureError> {
        let pair = c
            .as_array()
            .filter(|a| a.len() >= 2)
            .ok_or_else(|| self.err("a position is not [lon, lat]"))?;
        let p = LonLat::new(
            pair[0].as_f64().unwrap_or(f64::NAN),
            pair[1].as_f64().unwrap_or(f64::NAN),
        );
        if !p.is_valid() {
            return Err(self.err(format!("position {c} is not a valid longitude, latitude")));
        }
        Ok(p)
    }

    fn point(&self) -> Result<LonLat, FeatureError> {
        self.lonlat(self.coordinates("Point")?)
    }

    /// Refuse a property that is not modelled or not known, naming it.
    fn check_keys(&self, keys: &super::FormatKeys) -> Result<(), FeatureError> {
        for key in self.props.keys() {
            if let Some(refused) = keys.refusal(key, 0, "layer") {
                let message = match keys.classify(key) {
                    super::KeyUse::NotModelled(why) => {
                        format!("property `{key}` is not modelled: {why}")
                    }
                    _ => format!(
                        "property `{key}` is not one this layer knows; refused, since it could change the answer ({})",
                        refused.message.split(';').next().unwrap_or_default()
                    ),
                };
                return Err(self.err(message));
            }
        }
        Ok(())
    }

    fn entity(&self, layer: Layer) -> Result<Entity, FeatureError> {
        self.check_keys(&layer.keys())?;
        match layer {
            Layer::Streets => self.street(),
            Layer::PowerBuses => self.power_bus(),
            Layer::Bins => self.bin(),
            Layer::Chargers => self.charger(),
        }
    }

    fn street(&self) -> Result<Entity, FeatureError> {
        let id = self.id(EntityKind::Street)?;
        let coords = self
            .coordinates("LineString")?
            .as_array()
            .ok_or_else(|| self.err("LineString coordinates are not an array"))?;
        let geometry = coords
            .iter()
            .map(|c| self.lonlat(c))
            .collect::<Result<Vec<_>, _>>()?;
        if geometry.len() < 2 {
            return Err(self.err("a street needs at least two positions"));
        }
        let class_name = self.text("roadClass")?;
        let road_class = RoadClass::from_osm_highway(class_name).ok_or_else(|| {
            self.err(format!(
                "roadClass `{class_name}` is not a drivable OSM highway class"
            ))
        })?;
        let lanes = self.whole("totalLaneNumber")?;
        if !(1..=16).contains(&lanes) {
            return Err(self.err(format!("totalLaneNumber = {lanes} (expected 1 to 16)")));
        }
        let oneway = self
            .props
            .get("oneway")
            .and_then(Json::as_bool)
            .ok_or_else(|| self.err("property `oneway` is missing or not true/false"))?;
        let segment = StreetSegment {
            road_class,
            length_m: self.positive("length")?,
            lanes: lanes as u8,
            speed_limit_kmh: self.positive("maximumAllowedSpeed")?,
            capacity_veh_h: self.positive("capacity")?,
            oneway,
            from_node: self.number("startNode")? as i64,
            to_node: self.number("endNode")? as i64,
            geometry,
        };
        let mid = segment.geometry[segment.geometry.len() / 2];
        let location = if segment.geometry.len() == 2 {
            LonLat::new(
                (segment.geometry[0].lon + segment.geometry[1].lon) / 2.0,
                (segment.geometry[0].lat + segment.geometry[1].lat) / 2.0,
            )
        } else {
            mid
        };
        Ok(Entity::new(id, location, Asset::StreetSegment(segment)).with_name(self.name()))
    }

    fn power_bus(&self) -> Result<Entity, FeatureError> {
        let id = self.id(EntityKind::Power)?;
        let location = self.point()?;
        let asset = match self.text("type")? {
            "Substation" => Asset::Substation(Substation {
                bus: self.whole("bus")?,
                rated_kva: self.positive("ratedPower")?,
                high_kv: self.positive("highVoltage")?,
                low_kv: self.positive("lowVoltage")?,
            }),
            "TransformerPost" => Asset::TransformerPost(TransformerPost {
                bus: self.whole("bus")?,
                rated_kva: self.positive("ratedPower")?,
                customers: self.whole("customers")?,
                population: self.whole("population")?,
                peak_kw: 0.0,
                peak_kvar: 0.0,
            }),
            other => {
                return Err(self.err(format!(
                    "type `{other}` is not Substation or TransformerPost"
                )));
            }
        };
        Ok(Entity::new(id, location, asset).with_name(self.name()))
    }

    fn bin(&self) -> Result<Entity, FeatureError> {
        let id = self.id(EntityKind::Bin)?;
        let location = self.point()?;
        let kind_name = self.text("storedWasteKind")?;
        let stored_waste_kind = WasteKind::from_name(kind_name).ok_or_else(|| {
            self.err(format!(
                "storedWasteKind `{kind_name}` is not one of paper, plastic-metal, glass, bio, residual"
            ))
        })?;
        let bin = WasteBin {
            stored_waste_kind,
            volume_l: self.positive("binCapacity")?,
            collection_point: self.whole("collectionPoint")?,
        };
        let mut entity = Entity::new(id, location, Asset::WasteBin(bin)).with_name(self.name());
        // Live state may be given in the layer (a snapshot); it is validated like a reading.
        for key in ["fillingLevel", "temperature", "status", "dateLastEmptying"] {
            if let Some(v) = self.props.get(key) {
                let quantity =
                    Quantity::for_asset(entity.kind(), key).expect("bins carry these quantities");
                let value =
                    check_value(&entity, quantity, v).map_err(|e| self.err(e.to_string()))?;
                entity.state.values.insert(quantity, value);
            }
        }
        Ok(entity)
    }

    fn charger(&self) -> Result<Entity, FeatureError> {
        let id = self.id(EntityKind::Charger)?;
        let location = self.point()?;
        let site_name = self.text("category")?;
        let site = ChargerSite::from_name(site_name).ok_or_else(|| {
            self.err(format!(
                "category `{site_name}` is not a known charging site type"
            ))
        })?;
        let count = self.whole("socketNumber")? as usize;
        let types = self
            .props
            .get("socketType")
            .and_then(Json::as_array)
            .ok_or_else(|| self.err("property `socketType` is missing or not an array"))?;
        let powers = self
            .props
            .get("socketMaxPower")
            .and_then(Json::as_array)
            .ok_or_else(|| self.err("property `socketMaxPower` is missing or not an array"))?;
        if count == 0 || types.len() != count || powers.len() != count {
            return Err(self.err(format!(
                "socketNumber = {count} but {} socket types and {} socket powers",
                types.len(),
                powers.len()
            )));
        }
        let mut sockets = Vec::with_capacity(count);
        for (t, p) in types.iter().zip(powers) {
            let socket_type = t
                .as_str()
                .ok_or_else(|| self.err("a socketType is not a string"))?
                .to_string();
            let max_power_kw = p
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| self.err(format!("socket power {p} is not a positive number")))?;
            sockets.push(Socket {
                socket_type,
                max_power_kw,
            });
        }
        let grid_text = self.text("refGridConnection")?;
        let grid_connection: EntityId = grid_text
            .parse()
            .map_err(|e| self.err(format!("refGridConnection: {e}")))?;
        let charger = EvCharger {
            site,
            operator: self.text("operator")?.to_string(),
            sockets,
            grid_connection,
        };
        Ok(Entity::new(id, location, Asset::EvCharger(charger)).with_name(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin_layer(extra: &str) -> String {
        format!(
            r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","geometry":{{"type":"Point","coordinates":[24.87,44.86]}},"properties":{{"id":"bin:1","type":"WasteContainer","storedWasteKind":"glass","binCapacity":1100,"collectionPoint":3{extra}}}}}
]}}"#
        )
    }

    #[test]
    fn bins_round_trip() {
        let entities = read_layer(&bin_layer(""), Layer::Bins).unwrap();
        assert_eq!(entities.len(), 1);
        let text = feature_collection(entities.iter().filter_map(entity_feature));
        assert_eq!(read_layer(&text, Layer::Bins).unwrap(), entities);
    }

    #[test]
    fn a_bad_filling_level_names_the_bin() {
        let err = read_layer(&bin_layer(r#","fillingLevel":1.7"#), Layer::Bins).unwrap_err();
        assert_eq!(
            err.to_string(),
            "feature 0 (bin:1): bin:1: `fillingLevel` = 1.7 is out of range [0, 1] fraction 0-1"
        );
    }

    #[test]
    fn every_documented_property_is_in_a_list_and_unknown_ones_are_refused() {
        // Smart Data Models: RoadSegment, WasteContainer, EVChargingStation (their
        // schema.json properties that a city would fill in), and the twin's own power bus.
        let documented: [(Layer, &[&str]); 4] = [
            (
                Layer::Streets,
                &[
                    "id",
                    "type",
                    "name",
                    "roadClass",
                    "totalLaneNumber",
                    "length",
                    "maximumAllowedSpeed",
                    "minimumAllowedSpeed",
                    "allowedVehicleType",
                    "laneUsage",
                    "startNode",
                    "endNode",
                    "description",
                    "dateCreated",
                    "dateModified",
                    "source",
                    "dataProvider",
                    "address",
                    "alternateName",
                    "areaServed",
                    "seeAlso",
                    "owner",
                ],
            ),
            (
                Layer::PowerBuses,
                &[
                    "id",
                    "type",
                    "name",
                    "bus",
                    "ratedPower",
                    "highVoltage",
                    "lowVoltage",
                    "customers",
                    "population",
                ],
            ),
            (
                Layer::Bins,
                &[
                    "id",
                    "type",
                    "name",
                    "storedWasteKind",
                    "binCapacity",
                    "fillingLevel",
                    "temperature",
                    "status",
                    "dateLastEmptying",
                    "cargoWeight",
                    "serialNumber",
                    "refWasteContainerModel",
                    "color",
                    "category",
                    "description",
                    "address",
                ],
            ),
            (
                Layer::Chargers,
                &[
                    "id",
                    "type",
                    "name",
                    "category",
                    "operator",
                    "socketNumber",
                    "socketType",
                    "capacity",
                    "allowedVehicleType",
                    "openingHours",
                    "description",
                    "address",
                    "dataProvider",
                    "source",
                    "dateCreated",
                    "dateModified",
                ],
            ),
        ];
        for (layer, keys) in documented {
            for key in keys {
                assert_ne!(
                    layer.keys().classify(key),
                    super::super::KeyUse::Unknown,
                    "{layer:?} {key}"
                );
            }
        }
        let err = read_layer(&bin_layer(r#","cargoWeight":12"#), Layer::Bins).unwrap_err();
        assert!(
            err.to_string().contains("`cargoWeight` is not modelled"),
            "{err}"
        );
        let err = read_layer(&bin_layer(r#","fillingLvl":0.5"#), Layer::Bins).unwrap_err();
        assert!(
            err.to_string()
                .contains("feature 0 (bin:1): property `fillingLvl`"),
            "{err}"
        );
        assert!(read_layer(&bin_layer(r#","description":"by the school""#), Layer::Bins).is_ok());
    }

    #[test]
    fn wrong_family_and_kind_are_refused() {
        let err = read_layer(&bin_layer("").replace("bin:1", "street:1"), Layer::Bins).unwrap_err();
        assert!(err.to_string().contains("should be a `bin:` id"), "{err}");
        let err =
            read_layer(&bin_layer("").replace("glass", "batteries"), Layer::Bins).unwrap_err();
        assert!(
            err.to_string().contains("storedWasteKind `batteries`"),
            "{err}"
        );
    }
}
