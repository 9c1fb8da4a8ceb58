//! GeoJSON of the twin's layers for viewers: every entity of a layer with its geometry, its
//! static attributes (the city bundle's own feature properties, in Smart Data Models names) and
//! its live state. Power lines and water pipes, which the bundle keeps in MATPOWER and EPANET
//! files, are drawn as lines between the locations of their end nodes.

use serde_json::{Map, Value as Json, json};
use twin_core::entity::Asset;
use twin_core::formats::layers::entity_feature;
use twin_core::{CityModel, EntityKind};

/// Geometry and static properties of every entity of one layer, in city order.
pub struct LayerGeometry {
    pub kind: EntityKind,
    /// (entity index, GeoJSON geometry, static properties)
    pub features: Vec<(usize, Json, Map<String, Json>)>,
}

fn point(lon: f64, lat: f64) -> Json {
    json!({"type": "Point", "coordinates": [round7(lon), round7(lat)]})
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// Build the geometry of one layer (once per server: the city's geometry does not change).
pub fn layer_geometry(city: &CityModel, kind: EntityKind) -> LayerGeometry {
    let mut ends = std::collections::HashMap::new();
    for e in city.power.graph.edge_indices() {
        if let (Some(w), Some((a, b))) = (
            city.power.graph.edge_weight(e),
            city.power.graph.edge_endpoints(e),
        ) && let (Some(i), Some(na), Some(nb)) = (
            w.entity,
            city.power.graph[a].entity,
            city.power.graph[b].entity,
        ) {
            ends.insert(i, (na, nb));
        }
    }
    for e in city.water.graph.edge_indices() {
        if let (Some(w), Some((a, b))) = (
            city.water.graph.edge_weight(e),
            city.water.graph.edge_endpoints(e),
        ) {
            ends.insert(
                w.entity,
                (city.water.graph[a].entity, city.water.graph[b].entity),
            );
        }
    }
    let entities = city.entities();
    let mut features = Vec::new();
    for (i, e) in entities.iter().enumerate() {
        if e.id.kind() != kind {
            continue;
        }
        let (geometry, mut props) =
            match entity_feature(e).and_then(|text| serde_json::from_str::<Json>(&text).ok()) {
                Some(mut f) => {
                    let geometry = f["geometry"].take();
                    let props = match f["properties"].take() {
                        Json::Object(m) => m,
                        _ => Map::new(),
                    };
                    (geometry, props)
                }
                None => {
                    let geometry = match ends.get(&i) {
                        Some(&(a, b)) => {
                            let (p, q) = (entities[a].location, entities[b].location);
                            json!({"type": "LineString", "coordinates": [
                            [round7(p.lon), round7(p.lat)], [round7(q.lon), round7(q.lat)]]})
                        }
                        None => point(e.location.lon, e.location.lat),
                    };
                    let mut props = Map::new();
                    props.insert("id".into(), json!(e.id.to_string()));
                    if let Some(n) = &e.name {
                        props.insert("name".into(), json!(n));
                    }
                    if let Some(s) = &e.source_id {
                        props.insert("sourceId".into(), json!(s));
                    }
                    (geometry, props)
                }
            };
        props.insert("assetType".into(), json!(asset_type(&e.asset)));
        features.push((i, geometry, props));
    }
    LayerGeometry { kind, features }
}

/// A short machine name of the asset type (drawn differently by the viewer).
pub fn asset_type(asset: &Asset) -> &'static str {
    match asset {
        Asset::StreetSegment(_) => "street_segment",
        Asset::Substation(_) => "substation",
        Asset::TransformerPost(_) => "transformer_post",
        Asset::PowerLine(_) => "power_line",
        Asset::PowerSwitch(_) => "switch",
        Asset::WaterSource(_) => "water_source",
        Asset::Tank(_) => "tank",
        Asset::Junction(_) => "junction",
        Asset::Pump(_) => "pump",
        Asset::Valve(_) => "valve",
        Asset::Pipe(_) => "pipe",
        Asset::WasteBin(_) => "waste_bin",
        Asset::EvCharger(_) => "ev_charger",
    }
}

/// The layer as a GeoJSON FeatureCollection, with each entity's live state under `state`.
pub fn layer_collection(
    layer: &LayerGeometry,
    state_of: impl Fn(usize) -> Option<Map<String, Json>>,
) -> String {
    let mut out = String::with_capacity(layer.features.len() * 200);
    out.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
    for (k, (i, geometry, props)) in layer.features.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let mut props = props.clone();
        props.insert(
            "state".into(),
            Json::Object(state_of(*i).unwrap_or_default()),
        );
        let f = json!({"type": "Feature", "id": props.get("id").cloned().unwrap_or(Json::Null),
            "geometry": geometry, "properties": props});
        out.push_str(&f.to_string());
    }
    out.push_str("]}");
    out
}
