//! File formats of the field, read and written: MATPOWER case files, EPANET `.inp`, and the
//! GeoJSON layers of a city bundle (streets, power buses, bins, chargers) with Smart Data Model
//! property names. OSM lives in [`crate::osm`].
//!
//! Every reader reports errors with the file's line (or feature index) and never panics on input.

pub mod epanet;
pub mod gis;
pub mod json;
pub mod layers;
pub mod matpower;
#[cfg(any(test, feature = "fuzz"))]
pub mod mutate;
pub mod table;
pub mod text;
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

/// What a reader does with each key, tag or section its format defines: the three lists of
/// "honour or refuse". A key in none of them is unknown and refused like a key not modelled,
/// since it could change the answer.
#[derive(Debug, Clone, Copy)]
pub struct FormatKeys {
    /// Read into the model and used.
    pub modelled: &'static [&'static str],
    /// Accepted and without effect on any answer (labels, comments, drawing coordinates).
    pub harmless: &'static [&'static str],
    /// Refused with the reason given.
    pub not_modelled: &'static [(&'static str, &'static str)],
}

/// Which list a key is in ([`FormatKeys::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Modelled,
    Harmless,
    /// Refused: the reason.
    NotModelled(&'static str),
    /// Not a key of the format.
    Unknown,
}

impl FormatKeys {
    pub fn classify(&self, key: &str) -> KeyUse {
        if self.modelled.contains(&key) {
            KeyUse::Modelled
        } else if self.harmless.contains(&key) {
            KeyUse::Harmless
        } else if let Some((_, why)) = self.not_modelled.iter().find(|(k, _)| *k == key) {
            KeyUse::NotModelled(why)
        } else {
            KeyUse::Unknown
        }
    }

    /// The refusal of `key` at `line` when it is not modelled or unknown, else `None`.
    pub fn refusal(&self, key: &str, line: usize, format: &str) -> Option<LineError> {
        match self.classify(key) {
            KeyUse::Modelled | KeyUse::Harmless => None,
            KeyUse::NotModelled(why) => Some(LineError::new(
                line,
                format!(
                    "{key} is not modelled: {why}; the file is refused rather than solved without it"
                ),
            )),
            KeyUse::Unknown => Some(LineError::new(
                line,
                format!(
                    "{key} is not a {format} key this reader knows; refused, since it could change the answer"
                ),
            )),
        }
    }
}
