//! Overpass API JSON (`[out:json]`): `{"elements": [...]}` with nodes (`id`, `lat`, `lon`),
//! ways (`id`, `nodes`, `tags`, and with `out geom` a `geometry` of `{lat, lon}` per node) and
//! relations (counted, not used). `version`, `generator`, `osm3s`, `remark` and per-element
//! `bounds`, `timestamp`, `version`, `changeset`, `user`, `uid` are harmless. A key given twice
//! is refused (`twin_core::formats::json`); an element that is not understood is refused
//! naming its index and id.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{OsmData, OsmWay};
use crate::geometry::LonLat;

#[derive(Deserialize)]
struct Document {
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Point {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
struct Element {
    #[serde(rename = "type")]
    kind: String,
    id: i64,
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(default)]
    nodes: Vec<i64>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// `out geom`: one point per node reference (null where Overpass left a node out).
    #[serde(default)]
    geometry: Vec<Option<Point>>,
}

/// Parse Overpass JSON. Errors are `(line, message)`; the caller adds the file name.
pub fn parse_overpass_json(bytes: &[u8]) -> Result<OsmData, (usize, String)> {
    let text = crate::formats::text::decode_utf8(bytes).map_err(|e| (e.line, e.message))?;
    let doc: Document = crate::formats::json::from_str_strict(&text)
        .map_err(|e| (e.line(), format!("not Overpass JSON: {e}")))?;
    let mut data = OsmData::default();
    let place = |lat: f64, lon: f64, what: &str| -> Result<LonLat, (usize, String)> {
        let p = LonLat::new(lon, lat);
        if p.is_valid() {
            Ok(p)
        } else {
            Err((1, format!("{what} has invalid coordinates {lat}, {lon}")))
        }
    };
    for (k, e) in doc.elements.into_iter().enumerate() {
        match e.kind.as_str() {
            "node" => {
                let (Some(lat), Some(lon)) = (e.lat, e.lon) else {
                    return Err((1, format!("element {k}: node {} has no lat/lon", e.id)));
                };
                data.nodes.insert(
                    e.id,
                    place(lat, lon, &format!("element {k}: node {}", e.id))?,
                );
            }
            "way" => {
                if !e.geometry.is_empty() && e.geometry.len() != e.nodes.len() {
                    return Err((
                        1,
                        format!(
                            "element {k}: way {} has {} node references but {} geometry points",
                            e.id,
                            e.nodes.len(),
                            e.geometry.len()
                        ),
                    ));
                }
                for (&id, point) in e.nodes.iter().zip(&e.geometry) {
                    if let Some(p) = point {
                        let at = place(p.lat, p.lon, &format!("element {k}: way {}", e.id))?;
                        data.nodes.entry(id).or_insert(at);
                    }
                }
                data.ways.push(OsmWay {
                    id: e.id,
                    nodes: e.nodes,
                    tags: e.tags.into_iter().collect(),
                });
            }
            "relation" => data.relations_ignored += 1,
            "area" => {}
            other => {
                return Err((
                    1,
                    format!("element {k}: type `{other}` is not an OSM element type"),
                ));
            }
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_ways_and_out_geom() {
        let text = r#"{"version": 0.6, "generator": "Overpass API", "osm3s": {"copyright": "ODbL"},
          "elements": [
            {"type": "node", "id": 1, "lat": 44.86, "lon": 24.86},
            {"type": "way", "id": 10, "nodes": [1, 2], "tags": {"highway": "residential"},
             "bounds": {"minlat": 44.8}, "geometry": [{"lat": 44.86, "lon": 24.86}, {"lat": 44.87, "lon": 24.87}]},
            {"type": "relation", "id": 5, "members": []}
          ]}"#;
        let data = parse_overpass_json(text.as_bytes()).unwrap();
        assert_eq!(data.nodes.len(), 2);
        assert_eq!(data.ways[0].tag("highway"), Some("residential"));
        assert_eq!(data.relations_ignored, 1);
    }

    #[test]
    fn bad_elements_are_refused_by_index() {
        let (_, message) =
            parse_overpass_json(br#"{"elements": [{"type": "node", "id": 1}]}"#).unwrap_err();
        assert!(
            message.contains("element 0: node 1 has no lat/lon"),
            "{message}"
        );
        let (_, message) = parse_overpass_json(
            br#"{"elements": [{"type": "node", "id": 1, "lat": 1, "lat": 2, "lon": 3}]}"#,
        )
        .unwrap_err();
        assert!(message.contains("duplicate"), "{message}");
        let (_, message) = parse_overpass_json(
            br#"{"elements": [{"type": "way", "id": 2, "nodes": [1, 2], "geometry": [{"lat": 1, "lon": 1}]}]}"#,
        )
        .unwrap_err();
        assert!(
            message.contains("2 node references but 1 geometry points"),
            "{message}"
        );
    }
}
