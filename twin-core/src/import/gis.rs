//! `[[gis]]` layers: a utility's GIS files read into the bundle's layers through the column
//! mapping of `city.toml`, on every load.
//!
//! ```toml
//! [[gis]]
//! layer = "bins"                       # streets | bins | chargers | water_valves
//! file = "gis/containere.shp"          # .geojson/.json, .shp (+ .dbf, .prj), .gpkg
//! table = "containere"                 # GeoPackage: the feature table, when it holds several
//! crs = "EPSG:3844"                    # only when the file does not say
//! [gis.columns]                        # the layer's property = the file's column
//! id = "COD"
//! storedWasteKind = "FRACTIE"
//! binCapacity = "VOLUM_L"
//! [gis.values.storedWasteKind]         # the file's values to the layer's
//! HARTIE = "paper"
//! MENAJER = "residual"
//! [gis.defaults]                       # a property's value where the column is empty or absent
//! collectionPoint = 0                  # (bins: 0 = each bin its own point)
//! ```
//!
//! Each feature becomes a feature of the bundle's own layer (docs/formats.md, Smart Data
//! Model names) and is read by the same reader as a bundle's GeoJSON, so the same checks
//! apply, with the GIS file and feature in every message. What a GIS export seldom has is
//! derived, each rule documented: an id without a `<kind>:` prefix gets the layer's; streets'
//! `length` from the geometry, `startNode`/`endNode` from shared end points (ends within a
//! centimetre are one node), `oneway` false, lanes, speed and capacity from `roadClass` as
//! the OSM import does; a bin's `collectionPoint` its own; a charger's `refGridConnection` the
//! nearest substation or transformer post, `socketType`/`socketMaxPower` split on `;` or `,`.
//! Valves are points: on the pipe and node the `link` and `node` columns name (EPANET ids),
//! or else on the pipe nearest the point, next to its nearer end node (within
//! [`VALVE_SNAP_M`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

use crate::crs::{Crs, check_fits};
use crate::entity::{Asset, Entity, RoadClass};
use crate::formats::epanet::EpanetNetwork;
use crate::formats::gis::{DeclaredCrs, GisFeature, GisGeometry, read_gis_layer};
use crate::formats::layers::{Layer, read_layer};
use crate::geometry::LonLat;
use serde::{Deserialize, Serialize};

/// One `[[gis]]` entry: a layer of the bundle read from a GIS file by a column mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GisSource {
    /// The bundle layer it provides: `streets`, `bins`, `chargers` or `water_valves`.
    pub layer: String,
    /// The file, relative to the bundle: `.geojson`/`.json`, `.shp` (with its `.dbf`, and
    /// `.prj` for the CRS), or `.gpkg`.
    pub file: String,
    /// The GeoPackage feature table (needed when the file holds several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The file's CRS when the file does not say (a shapefile without `.prj`); refused when
    /// the file says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
    /// The layer's property (`storedWasteKind`) = the file's column (`TIP_DESEU`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, String>,
    /// Per property, the file's values to the layer's (`HARTIE = "paper"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values: std::collections::BTreeMap<String, std::collections::BTreeMap<String, toml::Value>>,
    /// Per property, the value of features whose column is empty or absent.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub defaults: std::collections::BTreeMap<String, toml::Value>,
}

/// How far a valve point may be from the pipe it is snapped to, in metres.
pub const VALVE_SNAP_M: f64 = 25.0;

/// What one `[[gis]]` entry gives the bundle.
#[derive(Debug, Clone)]
pub enum GisLayerRead {
    Entities(Vec<Entity>),
    /// Isolation valves: (link, node) in EPANET ids, as the valve layer holds them.
    Valves(Vec<(String, String)>),
}

/// Why a `[[gis]]` layer could not be read: the manifest entry, the file and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("[[gis]] {layer} ({file}): {message}")]
pub struct GisSourceError {
    pub layer: String,
    pub file: PathBuf,
    pub message: String,
}

/// Read the `[[gis]]` entry `source` of the bundle in `dir`. `power_posts` are the bundle's
/// substations and transformer posts (a charger's grid connection); `water` the bundle's
/// network with WGS84 coordinates (valves).
pub fn read_gis_source(
    dir: &Path,
    source: &GisSource,
    power_posts: &[&Entity],
    water: Option<&EpanetNetwork>,
) -> Result<GisLayerRead, GisSourceError> {
    let path = dir.join(&source.file);
    let fail = |message: String| GisSourceError {
        layer: source.layer.clone(),
        file: path.clone(),
        message,
    };
    let layer = match source.layer.as_str() {
        "streets" => Some(Layer::Streets),
        "bins" => Some(Layer::Bins),
        "chargers" => Some(Layer::Chargers),
        "water_valves" => None,
        other => {
            return Err(fail(format!(
                "layer `{other}` is not one a GIS file can give: streets, bins, chargers or water_valves"
            )));
        }
    };
    let read = read_gis_layer(&path, source.table.as_deref()).map_err(|e| fail(e.to_string()))?;
    for (property, column) in &source.columns {
        if !read.columns.iter().any(|c| c == column) {
            return Err(fail(format!(
                "column `{column}` (mapped to `{property}`) is not in the file; its columns are {}",
                read.columns.join(", ")
            )));
        }
    }
    let crs = choose_crs(&path, read.crs.clone(), source.crs.as_deref()).map_err(&fail)?;
    let raw: Vec<(f64, f64)> = read
        .features
        .iter()
        .flat_map(|f| geometry_points(&f.geometry))
        .collect();
    check_fits(&raw, crs.as_ref(), "the file's coordinates").map_err(&fail)?;
    let place = |f: &GisFeature, x: f64, y: f64| -> Result<[f64; 2], GisSourceError> {
        let p = match &crs {
            Some(c) => c
                .to_wgs84(x, y)
                .map_err(|e| fail(format!("feature {}: {e}", f.index)))?,
            None => LonLat::new(x, y),
        };
        Ok([round7(p.lon), round7(p.lat)])
    };
    let Some(layer) = layer else {
        let net = water.ok_or_else(|| {
            fail("a valve layer needs the bundle's water network ([layers] water)".into())
        })?;
        return valves(&read.features, source, net, &place, &fail).map(GisLayerRead::Valves);
    };
    let mut features = Vec::with_capacity(read.features.len());
    let mut nodes = EndNodes::default();
    for f in &read.features {
        let mut props = mapped_properties(f, source);
        let geometry = match (&f.geometry, layer) {
            (GisGeometry::Point([x, y]), Layer::Bins | Layer::Chargers) => {
                json!({"type": "Point", "coordinates": place(f, *x, *y)?})
            }
            (GisGeometry::LineString(line), Layer::Streets) => line_json(f, line, &place)?,
            (GisGeometry::MultiLineString(parts), Layer::Streets) if parts.len() == 1 => {
                line_json(f, &parts[0], &place)?
            }
            (g, _) => {
                let found = match g {
                    GisGeometry::Point(_) => "Point".into(),
                    GisGeometry::LineString(_) => "LineString".into(),
                    GisGeometry::MultiLineString(p) => {
                        format!("MultiLineString of {} parts", p.len())
                    }
                    GisGeometry::Other(t) => t.clone(),
                    GisGeometry::None => "no geometry".into(),
                };
                let want = if layer == Layer::Streets {
                    "a LineString"
                } else {
                    "a Point"
                };
                return Err(fail(format!(
                    "feature {}: {found}, where the layer needs {want}",
                    f.index
                )));
            }
        };
        derive(layer, f, &mut props, &geometry, &mut nodes, power_posts);
        features.push(
            json!({"type": "Feature", "geometry": geometry, "properties": props}).to_string(),
        );
    }
    let text = crate::formats::layers::feature_collection(features);
    read_layer(&text, layer)
        .map(GisLayerRead::Entities)
        .map_err(|e| {
            let hint = if e.message.contains("is missing") {
                ": map it in [gis.columns] or give it in [gis.defaults]"
            } else {
                ""
            };
            fail(format!(
                "feature {}{}: {}{hint}",
                e.index + 1,
                e.id.map(|i| format!(" ({i})")).unwrap_or_default(),
                e.message
            ))
        })
}

/// The CRS of a GIS file's coordinates: the file's own, or `given` when the file says
/// nothing; both and different is an error naming them.
pub(crate) fn choose_crs(
    path: &Path,
    declared: DeclaredCrs,
    given: Option<&str>,
) -> Result<Option<Crs>, String> {
    let parse = |text: &str| Crs::parse(text).map_err(|e| e.to_string());
    match (declared, given) {
        (DeclaredCrs::Unknown | DeclaredCrs::Wgs84, None) => Ok(None),
        (DeclaredCrs::Unknown, Some(g)) => parse(g).map(Some),
        (DeclaredCrs::Code(c) | DeclaredCrs::Wkt(c), None) => parse(&c).map(Some),
        (DeclaredCrs::Wgs84, Some(g)) => {
            let c = parse(g)?;
            if c.is_geographic() {
                Ok(Some(c))
            } else {
                Err(format!(
                    "{} is WGS84 longitude and latitude (GeoJSON), but the CRS given is {g}: leave the CRS out",
                    path.display()
                ))
            }
        }
        (DeclaredCrs::Code(c) | DeclaredCrs::Wkt(c), Some(g)) => {
            let (file, given) = (parse(&c)?, parse(g)?);
            if file.label() == given.label() {
                Ok(Some(file))
            } else {
                Err(format!(
                    "{} says its CRS is {}, but the CRS given is {}: leave the CRS out or fix the file",
                    path.display(),
                    file.label(),
                    given.label()
                ))
            }
        }
    }
}

/// The feature's properties under the layer's names: mapped columns (their values mapped),
/// then defaults where a value is missing or empty.
fn mapped_properties(f: &GisFeature, source: &GisSource) -> Map<String, Json> {
    let mut props = Map::new();
    for (property, column) in &source.columns {
        let value = f.properties.get(column).cloned().unwrap_or(Json::Null);
        if is_empty(&value) {
            continue;
        }
        let key = match &value {
            Json::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let mapped = source
            .values
            .get(property)
            .and_then(|table| table.get(&key))
            .map(toml_to_json)
            .unwrap_or(value);
        props.insert(property.clone(), mapped);
    }
    for (property, value) in &source.defaults {
        if !props.contains_key(property) {
            props.insert(property.clone(), toml_to_json(value));
        }
    }
    props
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn toml_to_json(v: &toml::Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

fn geometry_points(g: &GisGeometry) -> Vec<(f64, f64)> {
    match g {
        GisGeometry::Point([x, y]) => vec![(*x, *y)],
        GisGeometry::LineString(l) => l.iter().map(|p| (p[0], p[1])).collect(),
        GisGeometry::MultiLineString(parts) => {
            parts.iter().flatten().map(|p| (p[0], p[1])).collect()
        }
        GisGeometry::Other(_) | GisGeometry::None => Vec::new(),
    }
}

fn line_json(
    f: &GisFeature,
    line: &[[f64; 2]],
    place: &dyn Fn(&GisFeature, f64, f64) -> Result<[f64; 2], GisSourceError>,
) -> Result<Json, GisSourceError> {
    let coords = line
        .iter()
        .map(|p| place(f, p[0], p[1]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"type": "LineString", "coordinates": coords}))
}

/// Street end points shared by segments become one road-graph node.
#[derive(Default)]
struct EndNodes {
    ids: HashMap<(i64, i64), i64>,
}

impl EndNodes {
    fn id(&mut self, p: &Json) -> i64 {
        let key = |i: usize| (p[i].as_f64().unwrap_or(0.0) * 1e7).round() as i64;
        let next = self.ids.len() as i64 + 1;
        *self.ids.entry((key(0), key(1))).or_insert(next)
    }
}

/// Fill in what a GIS export seldom has (see the module documentation).
fn derive(
    layer: Layer,
    f: &GisFeature,
    props: &mut Map<String, Json>,
    geometry: &Json,
    nodes: &mut EndNodes,
    power_posts: &[&Entity],
) {
    let family = match layer {
        Layer::Streets => "street",
        Layer::Bins => "bin",
        Layer::Chargers => "charger",
        Layer::PowerBuses => "power",
    };
    let id = match props.get("id") {
        Some(Json::String(s)) if s.contains(':') => s.clone(),
        Some(Json::String(s)) => format!("{family}:{}", s.trim()),
        Some(Json::Number(n)) => format!("{family}:{n}"),
        _ => format!("{family}:{}", f.index),
    };
    props.insert("id".into(), json!(id));
    match layer {
        Layer::Streets => derive_street(props, geometry, nodes),
        Layer::Bins => {
            if props
                .get("collectionPoint")
                .is_none_or(|v| v.as_f64() == Some(0.0))
            {
                props.insert("collectionPoint".into(), json!(f.index));
            }
        }
        Layer::Chargers => {
            for key in ["socketType", "socketMaxPower"] {
                if let Some(Json::String(s)) = props.get(key) {
                    let parts: Vec<Json> = s
                        .split([';', ','])
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| p.parse::<f64>().map_or_else(|_| json!(p), |x| json!(x)))
                        .collect();
                    props.insert(key.into(), Json::Array(parts));
                } else if let Some(n @ Json::Number(_)) = props.get(key) {
                    let n = n.clone();
                    props.insert(key.into(), Json::Array(vec![n]));
                }
            }
            if !props.contains_key("refGridConnection")
                && let Some(p) = geometry["coordinates"].as_array()
            {
                let at = LonLat::new(p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0));
                if let Some(post) = power_posts.iter().min_by(|a, b| {
                    a.location
                        .distance_m(at)
                        .total_cmp(&b.location.distance_m(at))
                }) {
                    props.insert("refGridConnection".into(), json!(post.id.to_string()));
                }
            }
        }
        Layer::PowerBuses => {}
    }
}

fn derive_street(props: &mut Map<String, Json>, geometry: &Json, nodes: &mut EndNodes) {
    let coords = geometry["coordinates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let points: Vec<LonLat> = coords
        .iter()
        .map(|p| LonLat::new(p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0)))
        .collect();
    if !props.contains_key("length") {
        let m = crate::geometry::polyline_length_m(&points);
        props.insert("length".into(), json!((m * 100.0).round() / 100.0));
    }
    if let (Some(first), Some(last)) = (coords.first(), coords.last()) {
        props
            .entry("startNode")
            .or_insert_with(|| json!(nodes.id(first)));
        props
            .entry("endNode")
            .or_insert_with(|| json!(nodes.id(last)));
    }
    let oneway = props.get("oneway").and_then(Json::as_bool).unwrap_or(false);
    props.insert("oneway".into(), json!(oneway));
    let Some(class) = props
        .get("roadClass")
        .and_then(Json::as_str)
        .and_then(RoadClass::from_osm_highway)
    else {
        return; // the reader names the missing or unknown class
    };
    let lanes = props
        .get("totalLaneNumber")
        .and_then(Json::as_f64)
        .unwrap_or_else(|| f64::from(class.default_lanes(oneway)));
    props.insert("totalLaneNumber".into(), json!(lanes as u64));
    props
        .entry("maximumAllowedSpeed")
        .or_insert_with(|| json!(class.default_speed_kmh()));
    let per_direction = if oneway {
        lanes
    } else {
        (lanes / 2.0).max(1.0)
    };
    props
        .entry("capacity")
        .or_insert_with(|| json!(per_direction * class.capacity_per_lane_veh_h()));
}

/// Valve points to (link, node) rows of the valve layer.
fn valves(
    features: &[GisFeature],
    source: &GisSource,
    net: &EpanetNetwork,
    place: &dyn Fn(&GisFeature, f64, f64) -> Result<[f64; 2], GisSourceError>,
    fail: &dyn Fn(String) -> GisSourceError,
) -> Result<Vec<(String, String)>, GisSourceError> {
    let ends = net.pipe_and_valve_ends();
    let at = |node: &str| net.coordinates.get(node).map(|&(x, y)| LonLat::new(x, y));
    let mut out = Vec::with_capacity(features.len());
    for f in features {
        let props = mapped_properties(f, source);
        let text = |k: &str| match props.get(k) {
            Some(Json::String(s)) => Some(s.trim().to_string()),
            Some(Json::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if let Some(link) = text("link") {
            let (a, b) = ends.get(link.as_str()).ok_or_else(|| {
                fail(format!(
                    "feature {}: link `{link}` is not a pipe or valve of the water network",
                    f.index
                ))
            })?;
            let node = match text("node") {
                Some(n) if n == *a || n == *b => n,
                Some(n) => {
                    return Err(fail(format!(
                        "feature {}: node `{n}` is not an end of link {link}",
                        f.index
                    )));
                }
                None => a.to_string(),
            };
            out.push((link, node));
            continue;
        }
        let GisGeometry::Point([x, y]) = f.geometry else {
            return Err(fail(format!(
                "feature {}: a valve must be a Point (or name its `link`)",
                f.index
            )));
        };
        let [lon, lat] = place(f, x, y)?;
        let p = LonLat::new(lon, lat);
        let best = ends
            .iter()
            .filter_map(|(id, (a, b))| {
                let (pa, pb) = (at(a)?, at(b)?);
                Some((
                    segment_distance_m(p, pa, pb),
                    *id,
                    if p.distance_m(pa) <= p.distance_m(pb) {
                        *a
                    } else {
                        *b
                    },
                ))
            })
            .min_by(|x, y| x.0.total_cmp(&y.0));
        match best {
            Some((d, link, node)) if d <= VALVE_SNAP_M => {
                out.push((link.to_string(), node.to_string()))
            }
            Some((d, link, _)) => {
                return Err(fail(format!(
                    "feature {}: the nearest pipe ({link}) is {d:.0} m away, more than {VALVE_SNAP_M} m: map the `link` column, or check the CRS",
                    f.index
                )));
            }
            None => return Err(fail("the water network has no placed pipes".into())),
        }
    }
    Ok(out)
}

/// Distance from `p` to the segment `a`–`b`, in metres (a local flat projection: valves are
/// metres from their pipe).
fn segment_distance_m(p: LonLat, a: LonLat, b: LonLat) -> f64 {
    let k = p.lat.to_radians().cos();
    let (ax, ay) = ((a.lon - p.lon) * k, a.lat - p.lat);
    let (bx, by) = ((b.lon - p.lon) * k, b.lat - p.lat);
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (ax + t * dx, ay + t * dy);
    (cx * cx + cy * cy).sqrt() * 111_195.0
}

/// Degrees rounded to 1e-7 (about a centimetre), as the bundle's GeoJSON writes them.
fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// `[[gis]]` entries whose layer is `streets`, `bins` or `chargers`, read into entities, and
/// those of `water_valves` into valve rows: what [`crate::bundle::load_city_from`] adds.
pub fn read_all(
    dir: &Path,
    sources: &[GisSource],
    entities: &[Entity],
    water: Option<&EpanetNetwork>,
) -> Result<(Vec<Entity>, Vec<(String, String)>), GisSourceError> {
    let posts: Vec<&Entity> = entities
        .iter()
        .filter(|e| matches!(e.asset, Asset::Substation(_) | Asset::TransformerPost(_)))
        .collect();
    let (mut added, mut valve_rows) = (Vec::new(), Vec::new());
    for s in sources {
        match read_gis_source(dir, s, &posts, water)? {
            GisLayerRead::Entities(e) => added.extend(e),
            GisLayerRead::Valves(v) => valve_rows.extend(v),
        }
    }
    Ok((added, valve_rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::WasteKind;

    /// GIS-style layers in Stereo 70 (the legacy GeoJSON `crs` member), Romanian column names.
    const STREETS: &str = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3844"}},"features":[
{"type":"Feature","geometry":{"type":"LineString","coordinates":[[489673.0,373434.0],[489773.0,373434.0]]},"properties":{"COD":7,"DENUMIRE":"Strada Exemplu","CLASA":"residential"}},
{"type":"Feature","geometry":{"type":"LineString","coordinates":[[489773.0,373434.0],[489773.0,373534.0]]},"properties":{"COD":8,"DENUMIRE":"Strada Exemplu","CLASA":"tertiary","BENZI":null}}]}"#;
    const BINS: &str = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:3844"}},"features":[
{"type":"Feature","geometry":{"type":"Point","coordinates":[489700.0,373440.0]},"properties":{"NR":"B1","TIP":"HARTIE","VOL":1100}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[489770.0,373500.0]},"properties":{"NR":"B2","TIP":"MENAJER","VOL":""}}]}"#;
    const MANIFEST: &str = r#"name = "Test"
population = 10
timezone = "Europe/Bucharest"
centre = [24.8678, 44.8606]

[[gis]]
layer = "streets"
file = "strazi.geojson"
[gis.columns]
id = "COD"
name = "DENUMIRE"
roadClass = "CLASA"
totalLaneNumber = "BENZI"

[[gis]]
layer = "bins"
file = "containere.geojson"
[gis.columns]
id = "NR"
storedWasteKind = "TIP"
binCapacity = "VOL"
[gis.values.storedWasteKind]
HARTIE = "paper"
MENAJER = "residual"
[gis.defaults]
binCapacity = 240
"#;

    fn bundle(manifest: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("strazi.geojson"), STREETS).unwrap();
        std::fs::write(dir.path().join("containere.geojson"), BINS).unwrap();
        std::fs::write(dir.path().join("city.toml"), manifest).unwrap();
        dir
    }

    #[test]
    fn gis_layers_in_stereo_70_become_streets_and_bins_by_their_mapping() {
        let dir = bundle(MANIFEST);
        let city = crate::bundle::load_city(dir.path()).unwrap();
        let street = |id: &str| match &city.entity(&id.parse().unwrap()).unwrap().asset {
            Asset::StreetSegment(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        let (a, b) = (street("street:7"), street("street:8"));
        assert_eq!(a.to_node, b.from_node, "the shared end point is one node");
        assert!((a.length_m - 100.0).abs() < 0.5, "{}", a.length_m);
        assert_eq!(
            (a.lanes, b.lanes),
            (2, 2),
            "lanes from the class where the column is empty"
        );
        assert_eq!(
            a.capacity_veh_h,
            RoadClass::Residential.capacity_per_lane_veh_h()
        );
        // Stereo 70 (489673, 373434) is Pitești's centre, as PROJ puts it.
        let start = a.geometry[0];
        assert!(
            start.distance_m(LonLat::new(24.8678, 44.8606)) < 1.0,
            "{start:?}"
        );
        let bin = |id: &str| match &city.entity(&id.parse().unwrap()).unwrap().asset {
            Asset::WasteBin(b) => b.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bin("bin:B1").stored_waste_kind, WasteKind::Paper);
        assert_eq!(bin("bin:B1").volume_l, 1100.0);
        assert_eq!(bin("bin:B2").stored_waste_kind, WasteKind::Residual);
        assert_eq!(
            bin("bin:B2").volume_l,
            240.0,
            "the default where the column is empty"
        );
    }

    #[test]
    fn a_mapping_naming_a_missing_column_or_a_crs_that_does_not_fit_is_refused() {
        let dir = bundle(&MANIFEST.replace("binCapacity = \"VOL\"", "binCapacity = \"VOLUM\""));
        let e = crate::bundle::load_city(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("[[gis]] bins")
                && e.contains("containere.geojson")
                && e.contains("column `VOLUM` (mapped to `binCapacity`) is not in the file")
                && e.contains("NR, TIP, VOL"),
            "{e}"
        );
        let dir = bundle(&MANIFEST.replace(
            "file = \"strazi.geojson\"",
            "file = \"strazi.geojson\"\ncrs = \"EPSG:31700\"",
        ));
        let e = crate::bundle::load_city(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("says its CRS is EPSG:3844, but the CRS given is EPSG:31700"),
            "{e}"
        );
        let dir = bundle(&MANIFEST.replace("CLASA", "DENUMIRE"));
        let e = crate::bundle::load_city(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("feature 1 (street:7)") && e.contains("roadClass"),
            "{e}"
        );
    }
}
