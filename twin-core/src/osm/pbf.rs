//! OSM PBF reader on the `osmpbf` crate: the same nodes and ways as the XML reader.

use std::path::Path;

use osmpbf::{Element, ElementReader};

use super::{OsmData, OsmError, OsmWay};
use crate::geometry::LonLat;

pub fn read_pbf(path: &Path) -> Result<OsmData, OsmError> {
    let name = path.to_string_lossy().to_string();
    let reader = ElementReader::from_path(path).map_err(|e| OsmError::Pbf {
        path: name.clone(),
        message: e.to_string(),
    })?;
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
        .map_err(|e| OsmError::Pbf {
            path: name,
            message: e.to_string(),
        })?;
    Ok(data)
}
