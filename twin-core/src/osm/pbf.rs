//! OSM PBF reader on the `osmpbf` crate: the same nodes and ways as the XML reader.

use std::path::Path;

use osmpbf::{Element, ElementReader};

use super::{OsmData, OsmError, OsmWay};
use crate::geometry::LonLat;

/// Read an `.osm.pbf` file's nodes and ways. Errors name the file and what `osmpbf` found.
pub fn read_pbf(path: &Path) -> Result<OsmData, OsmError> {
    let name = path.to_string_lossy().to_string();
    let file = std::fs::File::open(path).map_err(|e| OsmError::Pbf {
        path: name.clone(),
        message: e.to_string(),
    })?;
    read_pbf_from(std::io::BufReader::new(file), &name)
}

/// [`read_pbf`] of any reader (`name` for errors). A panic inside the third-party decoder on a
/// damaged file is an error like any other, never a crash.
pub fn read_pbf_from<R: std::io::Read + Send>(reader: R, name: &str) -> Result<OsmData, OsmError> {
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(reader)));
    match decoded {
        Ok(result) => result.map_err(|message| OsmError::Pbf {
            path: name.to_string(),
            message,
        }),
        Err(_) => Err(OsmError::Pbf {
            path: name.to_string(),
            message: "the PBF decoder failed on a damaged block".into(),
        }),
    }
}

fn decode<R: std::io::Read + Send>(reader: R) -> Result<OsmData, String> {
    let reader = ElementReader::new(reader);
    let mut data = OsmData::default();
    reader
        .for_each(|element| match element {
            Element::Node(n) => {
                data.nodes.insert(n.id(), LonLat::new(n.lon(), n.lat()));
            }
            Element::DenseNode(n) => {
                data.nodes.insert(n.id(), LonLat::new(n.lon(), n.lat()));
            }
            Element::Way(w) => data.ways.push(OsmWay {
                id: w.id(),
                nodes: w.refs().collect(),
                tags: w
                    .tags()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
            Element::Relation(_) => {}
        })
        .map_err(|e| e.to_string())?;
    Ok(data)
}
