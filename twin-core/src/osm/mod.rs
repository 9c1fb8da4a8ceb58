//! OpenStreetMap import: read OSM XML ([`xml`]), PBF ([`pbf`]) or Overpass JSON
//! ([`overpass_json`]) into plain nodes and ways,
//! then cut the drivable ways into street segments between intersections ([`road_graph`]).

pub mod overpass_json;
pub mod pbf;
pub mod road_graph;
pub mod xml;

use std::collections::HashMap;
use std::path::Path;

use crate::geometry::LonLat;

pub use road_graph::{RoadImport, RoadImportStats, build_street_segments};

/// OSM's element attributes and the tags of ways, and what the import does with each.
/// OSM's tag set is open: tags in no list are harmless (the road graph reads only these), and
/// the not-modelled ones are imported without their effect and counted per tag
/// (`RoadImportStats::unmodelled_tags`, a note on the CLI) rather than refused, since every
/// real extract has them.
pub const KEYS: crate::formats::FormatKeys = crate::formats::FormatKeys {
    modelled: &[
        "id",
        "lat",
        "lon",
        "ref",
        "k",
        "v",
        "action",
        "visible",
        "highway",
        "oneway",
        "junction",
        "lanes",
        "maxspeed",
        "area",
        "name",
        "motorcar",
        "motor_vehicle",
        "vehicle",
        "access",
    ],
    harmless: &[
        "version",
        "timestamp",
        "changeset",
        "user",
        "uid",
        "bounds",
        "meta",
        "note",
        "generator",
        "copyright",
        "attribution",
        "license",
        "role",
        "type",
    ],
    not_modelled: &[
        (
            "relation",
            "turn restrictions and routes are not in the road graph (counted)",
        ),
        ("turn:lanes", "lane-level turns are not in the road graph"),
        (
            "maxweight",
            "vehicle weight limits are not in the traffic model",
        ),
        (
            "maxheight",
            "vehicle height limits are not in the traffic model",
        ),
    ],
};

/// A way with its node references and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmWay {
    pub id: i64,
    pub nodes: Vec<i64>,
    pub tags: Vec<(String, String)>,
}

impl OsmWay {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The nodes and ways of an extract (relations are not needed for the road graph).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsmData {
    pub nodes: HashMap<i64, LonLat>,
    pub ways: Vec<OsmWay>,
    /// Objects an editor marked deleted (`action="delete"`, JOSM) or that are not visible
    /// (`visible="false"`, history extracts): skipped, counted here.
    pub deleted_skipped: usize,
    /// Relations read past: the road graph does not use them (turn restrictions are not
    /// modelled).
    pub relations_ignored: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OsmError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Xml {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Pbf { path: String, message: String },
}

/// Read an extract, choosing the format by extension (`.osm.pbf`/`.pbf`, `.json` for
/// Overpass JSON, otherwise OSM XML as the API, JOSM and Overpass write it).
pub fn read_osm_file(path: &Path) -> Result<OsmData, OsmError> {
    let name = path.to_string_lossy();
    if name.ends_with(".pbf") {
        pbf::read_pbf(path)
    } else if name.ends_with(".json") {
        let text = std::fs::read(path).map_err(|source| OsmError::Io {
            path: name.to_string(),
            source,
        })?;
        overpass_json::parse_overpass_json(&text).map_err(|(line, message)| OsmError::Xml {
            path: name.to_string(),
            line,
            message,
        })
    } else {
        let text = std::fs::read(path).map_err(|source| OsmError::Io {
            path: name.to_string(),
            source,
        })?;
        xml::parse_osm_xml(&text).map_err(|(line, message)| OsmError::Xml {
            path: name.to_string(),
            line,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attributes_and_road_tags_of_osm_are_in_a_list() {
        // OSM API 0.6 attributes, JOSM's and Overpass's additions, and the tags the wiki's
        // "Key:highway" page lists for roads.
        for key in [
            "id",
            "lat",
            "lon",
            "ref",
            "k",
            "v",
            "version",
            "timestamp",
            "changeset",
            "user",
            "uid",
            "action",
            "visible",
            "bounds",
            "relation",
            "highway",
            "oneway",
            "junction",
            "lanes",
            "maxspeed",
            "access",
            "motor_vehicle",
            "name",
            "maxweight",
            "maxheight",
        ] {
            assert_ne!(KEYS.classify(key), crate::formats::KeyUse::Unknown, "{key}");
        }
    }
}
