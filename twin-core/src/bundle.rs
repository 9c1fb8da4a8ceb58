//! City bundles: a folder with a `city.toml` manifest naming its layer files, each in the
//! field's own format. [`load_city`] reads a bundle into a [`CityModel`]; every error names the
//! file and the line, feature or entity at fault.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::city::CitySummary;
use crate::city::{CityError, CityMeta, CityModel, Gateway, Neighbourhood};
use crate::formats::LineError;
use crate::formats::epanet::EpanetNetwork;
use crate::formats::layers::{FeatureError, Layer, read_intersections, read_layer};
use crate::formats::matpower::MatpowerCase;
use crate::geometry::{Boundary, LonLat};

/// The manifest of a city bundle (`city.toml`). See docs/formats.md for every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CityManifest {
    pub name: String,
    #[serde(default)]
    pub country: Option<String>,
    pub population: u64,
    pub timezone: String,
    /// `[lon, lat]` of the city centre.
    pub centre: [f64; 2],
    /// A GeoJSON polygon file.
    #[serde(default)]
    pub boundary: Option<String>,
    #[serde(default)]
    pub layers: LayerFiles,
    #[serde(default, rename = "neighbourhood")]
    pub neighbourhoods: Vec<NeighbourhoodEntry>,
    #[serde(default, rename = "gateway")]
    pub gateways: Vec<GatewayEntry>,
}

/// Layer files, relative to the bundle folder. Every layer is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFiles {
    /// GeoJSON LineStrings (RoadSegment).
    pub streets: Option<String>,
    /// GeoJSON Points of signalised intersections and roundabouts.
    pub intersections: Option<String>,
    /// MATPOWER case of the distribution network.
    pub power: Option<String>,
    /// GeoJSON Points of substations and transformer posts, with their bus numbers.
    pub power_buses: Option<String>,
    /// EPANET .inp with [COORDINATES] in WGS84 (x = longitude, y = latitude).
    pub water: Option<String>,
    /// Isolation valves as CSV `valve,link,node` (WNTR's valve layer): a valve on `link` next
    /// to `node`.
    pub water_valves: Option<String>,
    /// GeoJSON Points (WasteContainer).
    pub bins: Option<String>,
    /// GeoJSON Points (EVChargingStation).
    pub chargers: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodEntry {
    pub name: String,
    pub centre: [f64; 2],
    pub population: u32,
    /// Jobs located in the neighbourhood (default: none given, demand models use population).
    #[serde(default)]
    pub jobs: Option<u32>,
}

/// Where traffic enters and leaves the city, with its morning peak-hour vehicle trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    pub name: String,
    /// `[lon, lat]` where the road crosses the boundary.
    pub location: [f64; 2],
    /// Vehicles per hour entering the city in the morning peak.
    pub peak_inbound_veh_h: f64,
    /// Vehicles per hour leaving the city in the morning peak.
    pub peak_outbound_veh_h: f64,
}

/// Why a bundle could not be loaded. The message always starts with the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{manifest}: layer `{key}` names {file}, which does not exist")]
    MissingLayer {
        manifest: PathBuf,
        key: &'static str,
        file: PathBuf,
    },
    #[error("{path}: {source}")]
    Layer { path: PathBuf, source: FeatureError },
    #[error("{path}:{}: {}", source.line, source.message)]
    Lines { path: PathBuf, source: LineError },
    #[error("{path}: {message}")]
    Boundary { path: PathBuf, message: String },
    #[error("{manifest}: {source}")]
    City {
        manifest: PathBuf,
        source: CityError,
    },
}

fn read_text(path: &Path) -> Result<String, BundleError> {
    std::fs::read_to_string(path).map_err(|source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl CityManifest {
    pub fn parse(text: &str, path: &Path) -> Result<CityManifest, BundleError> {
        let manifest: CityManifest = toml::from_str(text).map_err(|e| BundleError::Manifest {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        })?;
        let centre = LonLat::new(manifest.centre[0], manifest.centre[1]);
        if !centre.is_valid() {
            return Err(BundleError::Manifest {
                path: path.to_path_buf(),
                message: format!("centre {:?} is not a valid [lon, lat]", manifest.centre),
            });
        }
        Ok(manifest)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }
}

/// TOML errors span several lines with a source excerpt; keep the first and the message.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next().unwrap_or("").trim().to_string();
    let tail = lines.next_back().map(str::trim).unwrap_or("");
    if tail.is_empty() || tail == head {
        head
    } else {
        format!("{head}: {tail}")
    }
}

/// Load the city bundle in `dir` (or the `city.toml` it names).
pub fn load_city(dir: &Path) -> Result<CityModel, BundleError> {
    let (dir, manifest_path) = if dir.is_file() {
        (
            dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
            dir.to_path_buf(),
        )
    } else {
        (dir.to_path_buf(), dir.join("city.toml"))
    };
    let manifest = CityManifest::parse(&read_text(&manifest_path)?, &manifest_path)?;
    let file = |key: &'static str, name: &Option<String>| -> Result<Option<PathBuf>, BundleError> {
        let Some(name) = name else { return Ok(None) };
        let path = dir.join(name);
        if !path.is_file() {
            return Err(BundleError::MissingLayer {
                manifest: manifest_path.clone(),
                key,
                file: path,
            });
        }
        Ok(Some(path))
    };
    let layers = &manifest.layers;
    let boundary = match file("boundary", &manifest.boundary)? {
        Some(path) => Some(
            Boundary::from_geojson_str(&read_text(&path)?)
                .map_err(|message| BundleError::Boundary { path, message })?,
        ),
        None => None,
    };
    let mut entities = Vec::new();
    for (key, name, layer) in [
        ("streets", &layers.streets, Layer::Streets),
        ("power_buses", &layers.power_buses, Layer::PowerBuses),
        ("bins", &layers.bins, Layer::Bins),
        ("chargers", &layers.chargers, Layer::Chargers),
    ] {
        if let Some(path) = file(key, name)? {
            let text = read_text(&path)?;
            let read = read_layer(&text, layer).map_err(|source| BundleError::Layer {
                path: path.clone(),
                source,
            })?;
            tracing::debug!(layer = key, file = %path.display(), entities = read.len(), "layer read");
            entities.extend(read);
        }
    }
    let intersections = match file("intersections", &layers.intersections)? {
        Some(path) => read_intersections(&read_text(&path)?)
            .map_err(|source| BundleError::Layer { path, source })?,
        None => Vec::new(),
    };
    let power_case = match file("power", &layers.power)? {
        Some(path) => Some(
            MatpowerCase::parse(&read_text(&path)?)
                .map_err(|source| BundleError::Lines { path, source })?,
        ),
        None => None,
    };
    let water = match file("water", &layers.water)? {
        Some(path) => {
            let net =
                EpanetNetwork::parse(&read_text(&path)?).map_err(|source| BundleError::Lines {
                    path: path.clone(),
                    source,
                })?;
            for (line, section) in &net.unsupported {
                tracing::warn!(file = %path.display(), line, section = %section, "EPANET section not modelled");
            }
            Some(net)
        }
        None => None,
    };
    let water_valves = match (file("water_valves", &layers.water_valves)?, &water) {
        (Some(path), Some(net)) => read_valve_layer(&read_text(&path)?, net)
            .map_err(|source| BundleError::Lines { path, source })?,
        (Some(path), None) => {
            return Err(BundleError::Manifest {
                path: path.clone(),
                message: "a water valve layer needs the water layer".into(),
            });
        }
        (None, _) => Vec::new(),
    };
    let meta = CityMeta {
        name: manifest.name.clone(),
        population: manifest.population,
        timezone: manifest.timezone.clone(),
        centre: LonLat::new(manifest.centre[0], manifest.centre[1]),
        boundary,
        neighbourhoods: manifest
            .neighbourhoods
            .iter()
            .map(|n| Neighbourhood {
                name: n.name.clone(),
                centre: LonLat::new(n.centre[0], n.centre[1]),
                population: n.population,
                jobs: n.jobs.unwrap_or(n.population),
            })
            .collect(),
        gateways: manifest
            .gateways
            .iter()
            .map(|g| Gateway {
                name: g.name.clone(),
                location: LonLat::new(g.location[0], g.location[1]),
                peak_inbound_veh_h: g.peak_inbound_veh_h,
                peak_outbound_veh_h: g.peak_outbound_veh_h,
            })
            .collect(),
        intersections,
    };
    let mut city =
        CityModel::new(meta, entities, power_case, water).map_err(|source| BundleError::City {
            manifest: manifest_path,
            source,
        })?;
    city.water_valves = water_valves;
    Ok(city)
}

/// Read a valve layer (`valve,link,node`), checking every valve sits on a pipe end.
fn read_valve_layer(text: &str, net: &EpanetNetwork) -> Result<Vec<(String, String)>, LineError> {
    let ends: std::collections::HashMap<&str, (&str, &str)> = net
        .pipes
        .iter()
        .map(|p| (p.id.as_str(), (p.node1.as_str(), p.node2.as_str())))
        .collect();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if i == 0 || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 {
            return Err(LineError::new(i + 1, "a valve row needs valve,link,node"));
        }
        let (a, b) = ends.get(f[1]).ok_or_else(|| {
            LineError::new(
                i + 1,
                format!("valve {} is on `{}`, which is not a pipe", f[0], f[1]),
            )
        })?;
        if f[2] != *a && f[2] != *b {
            return Err(LineError::new(
                i + 1,
                format!(
                    "valve {} is next to `{}`, which is not an end of pipe {}",
                    f[0], f[2], f[1]
                ),
            ));
        }
        out.push((f[1].to_string(), f[2].to_string()));
    }
    Ok(out)
}

/// Write a bundle holding only streets (the result of an OSM import): `streets.geojson`, the
/// boundary if given, and a `city.toml` naming them.
pub fn write_street_bundle(
    dir: &Path,
    name: &str,
    streets: &[crate::entity::Entity],
    boundary_geojson: Option<&str>,
) -> Result<(), BundleError> {
    use crate::formats::layers::{entity_feature, feature_collection};
    let io = |path: PathBuf| move |source| BundleError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let bbox = crate::geometry::BBox::of(streets.iter().map(|e| e.location));
    let centre = if bbox.is_empty() {
        LonLat::new(0.0, 0.0)
    } else {
        bbox.centre()
    };
    let manifest = CityManifest {
        name: name.to_string(),
        country: None,
        population: 0,
        timezone: "UTC".into(),
        centre: [centre.lon, centre.lat],
        boundary: boundary_geojson.map(|_| "boundary.geojson".to_string()),
        layers: LayerFiles {
            streets: Some("streets.geojson".into()),
            ..LayerFiles::default()
        },
        neighbourhoods: Vec::new(),
        gateways: Vec::new(),
    };
    if let Some(text) = boundary_geojson {
        let path = dir.join("boundary.geojson");
        std::fs::write(&path, text).map_err(io(path.clone()))?;
    }
    let path = dir.join("streets.geojson");
    std::fs::write(
        &path,
        feature_collection(streets.iter().filter_map(entity_feature)),
    )
    .map_err(io(path.clone()))?;
    let path = dir.join("city.toml");
    let header = "# Imported from OpenStreetMap by `twin import osm` (© OpenStreetMap contributors, ODbL 1.0).\n# Set population and timezone for the city.\n\n";
    std::fs::write(&path, format!("{header}{}", manifest.to_toml())).map_err(io(path.clone()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "name = \"Test\"\npopulation = 10\ntimezone = \"Europe/Bucharest\"\ncentre = [24.87, 44.86]\n\n[layers]\nbins = \"bins.geojson\"\n";

    #[test]
    fn a_missing_layer_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("city.toml"), MANIFEST).unwrap();
        let err = load_city(dir.path()).err().unwrap().to_string();
        assert!(err.contains("city.toml: layer `bins` names"), "{err}");
        assert!(err.contains("bins.geojson, which does not exist"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("city.toml"),
            MANIFEST.replace("[layers]\n", "[layers]\ntrams = \"x\"\n"),
        )
        .unwrap();
        let err = load_city(dir.path()).err().unwrap().to_string();
        assert!(err.contains("line 7"), "{err}");
        assert!(err.contains("trams"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn an_empty_bundle_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("city.toml"),
            MANIFEST.replace("bins = \"bins.geojson\"\n", ""),
        )
        .unwrap();
        let city = load_city(dir.path()).unwrap();
        assert_eq!(city.summary().entities, 0);
    }
}
