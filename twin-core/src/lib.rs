//! # twin-core — the model of the city
//!
//! Everything citytwin knows about a city lives here as plain data and plain functions:
//! typed entity ids, the assets of each kind with their static attributes and live state
//! (named as in the FIWARE Smart Data Models), sensor [`Reading`]s and their validation,
//! the [`CityModel`] with its three petgraph networks (road, power, water) and an R-tree for
//! spatial queries, the file formats of the field (OSM, GeoJSON, EPANET `.inp`, MATPOWER,
//! shapefiles and GeoPackages), coordinate reference systems, the city bundle and the imports
//! that make one from a utility's files, and the deterministic generator of the Pitești bundle.
//!
//! **Must never depend on**: async runtimes, sockets, databases, actors or NATS. The only I/O
//! here is reading and writing files in the formats above (a GeoPackage is read through SQLite
//! as the file format it is, never used as a store). Every other crate depends on this one;
//! this one depends on none of them.

pub mod builtin;
pub mod bundle;
pub mod city;
pub mod crs;
pub mod entity;
pub mod ev;
pub mod formats;
pub mod geometry;
pub mod id;
pub mod import;
pub mod invariants;
pub mod kpi;
pub mod live;
pub mod network;
pub mod ngsi_ld;
pub mod osm;
pub mod places;
pub mod power;
pub mod profiles;
pub mod quantity;
pub mod reading;
pub mod routing;
pub mod sampling;
pub mod spatial;
pub mod stable_hash;
pub mod synth;
pub mod traffic;
pub mod waste;
pub mod water;

pub use bundle::{BundleError, CityManifest, CitySummary, load_city};
pub use city::CityModel;
pub use entity::{Asset, AssetKind, Entity};
pub use geometry::{BBox, LonLat};
pub use id::{EntityId, EntityKind, IdError};
pub use quantity::{Quantity, Value};
pub use reading::{Reading, ReadingError};

#[cfg(test)]
mod fuzz_tests;
