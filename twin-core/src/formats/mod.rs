//! File formats of the field, read and written: MATPOWER case files, EPANET `.inp`, and the
//! GeoJSON layers of a city bundle (streets, power buses, bins, chargers) with Smart Data Model
//! property names. OSM lives in [`crate::osm`].
//!
//! Every reader reports errors with the file's line (or feature index) and never panics on input.

pub mod epanet;
pub mod layers;
pub mod matpower;
pub mod tntp;
pub mod vrplib;

/// An error in an input file, with the line (1-based) where it was found when known.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl LineError {
    pub fn new(line: usize, message: impl Into<String>) -> LineError {
        LineError {
            line,
            message: message.into(),
        }
    }
}
