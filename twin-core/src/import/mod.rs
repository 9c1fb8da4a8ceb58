//! From a utility's own files to a city bundle the twin runs on.
//!
//! - [`epanet`]: `twin import epanet`: an EPANET model (any units, any CRS, EPANET's separate
//!   node and link ids) with its isolation-valve layer.
//! - [`matpower`]: `twin import matpower`: a MATPOWER case placed on the map by a bus
//!   geography file.
//! - [`gis`]: `[[gis]]` layers of `city.toml`: streets, bins, chargers and valves from
//!   GeoJSON, shapefiles and GeoPackages in any CRS, by a declarative column mapping.
//! - [`check`]: `twin city check`: what a bundle lacks before outages, scenarios and the live
//!   twin use it, and what to fix.
//!
//! An import never changes what the model computes: the model files are kept as the utility
//! wrote them (re-encoded as UTF-8), and what the twin needs besides (the CRS, the valve
//! layer, the bus places) is written beside them and named in `city.toml`. Every warning names
//! the file and the element.

pub mod check;
pub mod epanet;
pub mod gis;
pub mod matpower;

use std::path::{Path, PathBuf};

use crate::bundle::{CityManifest, LayerFiles};
use crate::geometry::{BBox, LonLat};

/// Why an import could not be made. Every message names the file at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("the imported bundle in {dir}: {source}")]
    Bundle {
        dir: PathBuf,
        source: Box<crate::bundle::BundleError>,
    },
}

impl ImportError {
    pub(crate) fn input(path: &Path, message: impl Into<String>) -> ImportError {
        ImportError::Input {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// What an import did and what the user should know: warnings (something the twin will do
/// differently from what the user may expect, each naming the element) and notes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// The text of a model file written by a desktop tool (UTF-8 or Windows-1252, with a warning).
pub(crate) fn read_model_text(
    path: &Path,
    report: &mut ImportReport,
) -> Result<String, ImportError> {
    let decoded = crate::formats::text::read_text_file(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(w) = decoded.warning(&path.display().to_string()) {
        report.warnings.push(w);
    }
    Ok(decoded.text)
}

/// Write `text` to `dir/name`.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), ImportError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| ImportError::Io { path, source })
}

/// The manifest of the bundle in `dir` when there is one (an import extends it), else a new
/// one named `name` centred on `points`, with its population and time zone to be set.
pub(crate) fn manifest_to_extend(
    dir: &Path,
    name: &str,
    points: &[LonLat],
    report: &mut ImportReport,
) -> Result<CityManifest, ImportError> {
    std::fs::create_dir_all(dir).map_err(|source| ImportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("city.toml");
    if path.is_file() {
        let text = crate::formats::text::read_utf8_file(&path)
            .map_err(|e| ImportError::input(&path, e.to_string()))?;
        return CityManifest::parse(&text, &path).map_err(|e| ImportError::Bundle {
            dir: dir.to_path_buf(),
            source: Box::new(e),
        });
    }
    let bbox = BBox::of(points.iter().copied());
    let centre = if bbox.is_empty() {
        LonLat::new(0.0, 0.0)
    } else {
        bbox.centre()
    };
    report.notes.push(format!(
        "{}: a new bundle `{name}`; set its population and timezone in city.toml",
        path.display()
    ));
    Ok(CityManifest {
        name: name.to_string(),
        country: None,
        population: 0,
        timezone: "UTC".into(),
        centre: [round7(centre.lon), round7(centre.lat)],
        boundary: None,
        layers: LayerFiles::default(),
        neighbourhoods: Vec::new(),
        gateways: Vec::new(),
        waste: None,
        ev: None,
        gis: Vec::new(),
    })
}

/// Write the manifest and load the bundle, so that an import that produced something the
/// twin cannot run fails now, naming the fault.
pub(crate) fn finish(
    dir: &Path,
    manifest: &CityManifest,
    header: &str,
) -> Result<crate::CityModel, ImportError> {
    write_file(dir, "city.toml", &format!("{header}{}", manifest.to_toml()))?;
    crate::bundle::load_city(dir).map_err(|e| ImportError::Bundle {
        dir: dir.to_path_buf(),
        source: Box::new(e),
    })
}

/// Degrees rounded to 1e-7 (about a centimetre), as the bundle's GeoJSON writes them.
pub(crate) fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}
