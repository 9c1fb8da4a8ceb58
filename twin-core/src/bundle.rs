//! City bundles: a folder with a `city.toml` manifest naming its layer files, each in the
//! field's own format. [`load_city`] reads a bundle into a [`CityModel`]; every error names the
//! file and the line, feature or entity at fault.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::city::CitySummary;
use crate::city::{CityError, CityMeta, CityModel, EvFacts, Gateway, Neighbourhood};
use crate::entity::{DisposalSite, WasteKind, WasteSites};
use crate::formats::LineError;
use crate::formats::epanet::EpanetNetwork;
use crate::formats::layers::{FeatureError, Layer, read_intersections, read_layer};
use crate::formats::matpower::MatpowerCase;
use crate::geometry::{Boundary, LonLat};
use crate::invariants::InvariantViolation;

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
    #[serde(
        default,
        rename = "neighbourhood",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub neighbourhoods: Vec<NeighbourhoodEntry>,
    #[serde(default, rename = "gateway", skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayEntry>,
    /// Where collection trucks start and unload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waste: Option<WasteEntry>,
    /// Electric vehicles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev: Option<EvEntry>,
    /// `[[gis]]`: layers read from a utility's GIS files (GeoJSON, shapefile, GeoPackage in
    /// any CRS) through a column mapping ([`crate::import::gis`]).
    #[serde(default, rename = "gis", skip_serializing_if = "Vec::is_empty")]
    pub gis: Vec<crate::import::gis::GisSource>,
}

/// `[waste]`: the collection depot and the disposal sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasteEntry {
    /// `[lon, lat]` of the depot where trucks start and end their shift.
    pub depot: [f64; 2],
    /// `[[waste.disposal]]`: where loads are unloaded.
    pub disposal: Vec<DisposalEntry>,
}

/// One `[[waste.disposal]]` site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposalEntry {
    pub name: String,
    /// `[lon, lat]` where the road to the site leaves the city's streets (or the site itself).
    pub location: [f64; 2],
    /// Road km from `location` to the site and back (default 0: the site is on the streets).
    #[serde(default)]
    pub extra_km: f64,
    /// Streams unloaded here (`paper`, `plastic-metal`, `glass`, `bio`, `residual`); default
    /// every stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
}

/// `[ev]`: what the EV models need of the city.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvEntry {
    /// Real charging sessions (Dundee-format CSV) the demand is calibrated on, relative to the
    /// bundle's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<String>,
    /// Today's share of cars that are electric (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Passenger cars per 1,000 inhabitants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cars_per_1000: Option<f64>,
    /// Electric buses of the city's public transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electric_buses: Option<usize>,
    /// Kilometres an electric bus drives a day (needed with `electric_buses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_km_per_day: Option<f64>,
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
    /// EPANET .inp, in any of EPANET's units.
    pub water: Option<String>,
    /// The CRS of the .inp's `[COORDINATES]` (`EPSG:3844`, a PROJ string or WKT); default
    /// WGS84 (x = longitude, y = latitude).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub water_crs: Option<String>,
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
    /// Coordinates that do not fit the layer's CRS, or a CRS that is not understood.
    #[error("{path}: {message}")]
    Crs { path: PathBuf, message: String },
    #[error("{manifest}: {source}")]
    City {
        manifest: PathBuf,
        source: CityError,
    },
    #[error("{manifest}: the city breaks {} invariant(s): {}", found.len(), first_three(found))]
    Invariants {
        manifest: PathBuf,
        found: Vec<InvariantViolation>,
    },
}

/// The first three violations, for a one-line message.
fn first_three(found: &[InvariantViolation]) -> String {
    let mut text: Vec<String> = found.iter().take(3).map(ToString::to_string).collect();
    if found.len() > 3 {
        text.push("…".into());
    }
    text.join("; ")
}

/// A bundle file's text: UTF-8 (a byte-order mark removed); other bytes are refused by line,
/// since a bundle's TOML and GeoJSON are UTF-8 by definition.
fn read_text(path: &Path) -> Result<String, BundleError> {
    use crate::formats::text::{TextFileError, read_utf8_file};
    read_utf8_file(path).map_err(|e| match e {
        TextFileError::Io(source) => BundleError::Io {
            path: path.to_path_buf(),
            source,
        },
        TextFileError::Encoding(source) => BundleError::Lines {
            path: path.to_path_buf(),
            source,
        },
    })
}

impl CityManifest {
    pub fn parse(text: &str, path: &Path) -> Result<CityManifest, BundleError> {
        let manifest: CityManifest = toml::from_str(text).map_err(|e| BundleError::Manifest {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        })?;
        let bad = |message: String| BundleError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let centre = LonLat::new(manifest.centre[0], manifest.centre[1]);
        if !centre.is_valid() {
            return Err(bad(format!(
                "centre {:?} is not a valid [lon, lat]",
                manifest.centre
            )));
        }
        if let Some(w) = &manifest.waste {
            if !LonLat::new(w.depot[0], w.depot[1]).is_valid() {
                return Err(bad(format!(
                    "[waste] depot {:?} is not a valid [lon, lat]",
                    w.depot
                )));
            }
            if w.disposal.is_empty() {
                return Err(bad(
                    "[waste] needs at least one [[waste.disposal]] site".into()
                ));
            }
            for d in &w.disposal {
                if !LonLat::new(d.location[0], d.location[1]).is_valid() {
                    return Err(bad(format!(
                        "[[waste.disposal]] `{}`: location {:?} is not a valid [lon, lat]",
                        d.name, d.location
                    )));
                }
                if !(d.extra_km.is_finite() && d.extra_km >= 0.0) {
                    return Err(bad(format!(
                        "[[waste.disposal]] `{}`: extra_km {} is not a distance",
                        d.name, d.extra_km
                    )));
                }
                if let Some(s) = d.streams.iter().find(|s| WasteKind::from_name(s).is_none()) {
                    return Err(bad(format!(
                        "[[waste.disposal]] `{}`: stream `{s}` is not paper, plastic-metal, glass, bio or residual",
                        d.name
                    )));
                }
            }
        }
        if let Some(ev) = &manifest.ev {
            if let Some(share) = ev.share
                && !(0.0..=1.0).contains(&share)
            {
                return Err(bad(format!("[ev] share {share} is not between 0 and 1")));
            }
            if let Some(c) = ev.cars_per_1000
                && !(c.is_finite() && (0.0..=1000.0).contains(&c))
            {
                return Err(bad(format!(
                    "[ev] cars_per_1000 {c} is not between 0 and 1000"
                )));
            }
            match (ev.electric_buses, ev.bus_km_per_day) {
                (Some(n), None) if n > 0 => {
                    return Err(bad(
                        "[ev] electric_buses needs bus_km_per_day (km a bus drives a day)".into(),
                    ));
                }
                (_, Some(km)) if !(km.is_finite() && km >= 0.0) => {
                    return Err(bad(format!("[ev] bus_km_per_day {km} is not a distance")));
                }
                _ => {}
            }
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

/// Where a bundle's files are read from: a folder on disk, or files held in memory (the
/// default city embedded in the binary). Names are relative to the bundle's folder.
#[derive(Debug, Clone)]
pub enum BundleSource {
    /// A bundle folder and the name of its manifest in it (`city.toml`).
    Dir { dir: PathBuf, manifest: String },
    /// Files by name; `label` stands for the folder in messages (`pitesti (built in)`).
    Embedded {
        label: &'static str,
        files: &'static [(&'static str, &'static str)],
    },
}

impl BundleSource {
    /// The bundle in `path`: a folder, or the manifest file in one.
    pub fn dir(path: &Path) -> BundleSource {
        match (path.is_file(), path.file_name()) {
            (true, Some(name)) => BundleSource::Dir {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                manifest: name.to_string_lossy().into_owned(),
            },
            _ => BundleSource::Dir {
                dir: path.to_path_buf(),
                manifest: "city.toml".into(),
            },
        }
    }

    /// The manifest's name.
    pub fn manifest(&self) -> &str {
        match self {
            BundleSource::Dir { manifest, .. } => manifest,
            BundleSource::Embedded { .. } => "city.toml",
        }
    }

    /// Where a file of the bundle is, for messages (and for reading, on disk).
    pub fn path_of(&self, name: &str) -> PathBuf {
        match self {
            BundleSource::Dir { dir, .. } => dir.join(name),
            BundleSource::Embedded { label, .. } => Path::new(label).join(name),
        }
    }

    /// Whether the bundle has the file `name`.
    pub fn has(&self, name: &str) -> bool {
        match self {
            BundleSource::Dir { dir, .. } => dir.join(name).is_file(),
            BundleSource::Embedded { files, .. } => files.iter().any(|(n, _)| *n == name),
        }
    }

    /// The text of the bundle's file `name`.
    pub fn read_text(&self, name: &str) -> Result<String, BundleError> {
        match self {
            BundleSource::Dir { dir, .. } => read_text(&dir.join(name)),
            BundleSource::Embedded { files, .. } => files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_string())
                .ok_or_else(|| BundleError::Io {
                    path: self.path_of(name),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }),
        }
    }
}

/// Load the city bundle in `dir` (or the `city.toml` it names).
pub fn load_city(dir: &Path) -> Result<CityModel, BundleError> {
    load_city_from(&BundleSource::dir(dir))
}

/// Load a city bundle from wherever its files are.
pub fn load_city_from(source: &BundleSource) -> Result<CityModel, BundleError> {
    let manifest_path = source.path_of(source.manifest());
    let manifest = CityManifest::parse(&source.read_text(source.manifest())?, &manifest_path)?;
    // A layer the manifest names: its name in the bundle and its path for messages.
    let file = |key: &'static str,
                name: &Option<String>|
     -> Result<Option<(String, PathBuf)>, BundleError> {
        let Some(name) = name else { return Ok(None) };
        let path = source.path_of(name);
        if !source.has(name) {
            return Err(BundleError::MissingLayer {
                manifest: manifest_path.clone(),
                key,
                file: path,
            });
        }
        Ok(Some((name.clone(), path)))
    };
    let layers = &manifest.layers;
    let boundary = match file("boundary", &manifest.boundary)? {
        Some((name, path)) => Some(
            Boundary::from_geojson_str(&source.read_text(&name)?)
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
        if let Some((name, path)) = file(key, name)? {
            let text = source.read_text(&name)?;
            let read = read_layer(&text, layer).map_err(|source| BundleError::Layer {
                path: path.clone(),
                source,
            })?;
            tracing::debug!(layer = key, file = %path.display(), entities = read.len(), "layer read");
            entities.extend(read);
        }
    }
    let intersections = match file("intersections", &layers.intersections)? {
        Some((name, path)) => read_intersections(&source.read_text(&name)?)
            .map_err(|source| BundleError::Layer { path, source })?,
        None => Vec::new(),
    };
    let power_case = match file("power", &layers.power)? {
        Some((name, path)) => {
            let mut case = MatpowerCase::parse(&source.read_text(&name)?).map_err(|source| {
                BundleError::Lines {
                    path: path.clone(),
                    source,
                }
            })?;
            // MATPOWER's distribution cases end with unit conversions (ohms, kW): applied, so
            // that the case holds per-unit impedances and MW as the load flow reads them.
            case.apply_known_conversions();
            if let Some((line, statement)) = case.unevaluated.first() {
                return Err(BundleError::Lines {
                    path,
                    source: LineError::new(
                        *line,
                        format!(
                            "MATLAB statement not understood (only the unit conversions of MATPOWER's distribution cases are): `{statement}`"
                        ),
                    ),
                });
            }
            Some(case)
        }
        None => None,
    };
    let water = match file("water", &layers.water)? {
        Some((name, path)) => {
            let mut net = EpanetNetwork::parse(&source.read_text(&name)?).map_err(|source| {
                BundleError::Lines {
                    path: path.clone(),
                    source,
                }
            })?;
            net.place_in_wgs84(layers.water_crs.as_deref())
                .map_err(|message| BundleError::Crs {
                    path: path.clone(),
                    message,
                })?;
            for (line, section) in &net.unsupported {
                tracing::debug!(file = %path.display(), line, section = %section, "EPANET section read past (drawing and report layout)");
            }
            Some(net)
        }
        None => None,
    };
    let water_valves = match (file("water_valves", &layers.water_valves)?, &water) {
        (Some((name, path)), Some(net)) => read_valve_layer(&source.read_text(&name)?, net)
            .map_err(|source| BundleError::Lines { path, source })?,
        (Some((_, path)), None) => {
            return Err(BundleError::Manifest {
                path: path.clone(),
                message: "a water valve layer needs the water layer".into(),
            });
        }
        (None, _) => Vec::new(),
    };
    let mut water_valves = water_valves;
    if !manifest.gis.is_empty() {
        let BundleSource::Dir { dir, .. } = source else {
            return Err(BundleError::Manifest {
                path: manifest_path,
                message: "[[gis]] layers need a bundle folder".into(),
            });
        };
        let (added, valves) =
            crate::import::gis::read_all(dir, &manifest.gis, &entities, water.as_ref()).map_err(
                |e| BundleError::Manifest {
                    path: manifest_path.clone(),
                    message: e.to_string(),
                },
            )?;
        entities.extend(added);
        water_valves.extend(valves);
    }
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
        waste_sites: manifest.waste.as_ref().map(|w| WasteSites {
            depot: LonLat::new(w.depot[0], w.depot[1]),
            disposal: w
                .disposal
                .iter()
                .map(|d| DisposalSite {
                    name: d.name.clone(),
                    location: LonLat::new(d.location[0], d.location[1]),
                    extra_km: d.extra_km,
                    streams: d
                        .streams
                        .iter()
                        .filter_map(|s| WasteKind::from_name(s))
                        .collect(),
                })
                .collect(),
        }),
        ev: EvFacts {
            sessions: manifest.ev.as_ref().and_then(|e| e.sessions.clone()),
            share: manifest.ev.as_ref().and_then(|e| e.share),
            cars_per_1000: manifest.ev.as_ref().and_then(|e| e.cars_per_1000),
            electric_buses: manifest.ev.as_ref().and_then(|e| e.electric_buses),
            bus_km_per_day: manifest.ev.as_ref().and_then(|e| e.bus_km_per_day),
        },
    };
    let mut city =
        CityModel::new(meta, entities, power_case, water).map_err(|source| BundleError::City {
            manifest: manifest_path.clone(),
            source,
        })?;
    city.water_valves = water_valves;
    city.check_invariants()
        .map_err(|found| BundleError::Invariants {
            manifest: manifest_path,
            found,
        })?;
    Ok(city)
}

/// Read a valve layer (`valve,link,node`): a valve on pipe `link` next to its end `node`, or an
/// EPANET valve link (`link` in `[VALVES]`, `node` one of its ends) that is also operated as
/// an isolation valve. Errors name the line.
pub(crate) fn read_valve_layer(
    text: &str,
    net: &EpanetNetwork,
) -> Result<Vec<(String, String)>, LineError> {
    let ends = net.pipe_and_valve_ends();
    let mut out = Vec::new();
    for row in crate::formats::table::read_table(text, &["valve", "link", "node"])? {
        let f = &row.fields;
        let (a, b) = ends.get(f[1].as_str()).ok_or_else(|| {
            LineError::new(
                row.line,
                format!(
                    "valve {} is on `{}`, which is not a pipe or valve of the network",
                    f[0], f[1]
                ),
            )
        })?;
        if f[2] != *a && f[2] != *b {
            return Err(LineError::new(
                row.line,
                format!(
                    "valve {} is next to `{}`, which is not an end of link {}",
                    f[0], f[2], f[1]
                ),
            ));
        }
        out.push((f[1].clone(), f[2].clone()));
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
        waste: None,
        ev: None,
        gis: Vec::new(),
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

    const BASE: &str =
        "name = \"Test\"\npopulation = 10\ntimezone = \"UTC\"\ncentre = [24.87, 44.86]\n";

    fn manifest(extra: &str) -> Result<CityManifest, BundleError> {
        CityManifest::parse(&format!("{BASE}{extra}"), Path::new("city.toml"))
    }

    #[test]
    fn waste_sites_come_from_the_manifest_per_stream() {
        let source = BundleSource::Embedded {
            label: "test",
            files: &[(
                "city.toml",
                "name = \"Test\"\npopulation = 10\ntimezone = \"UTC\"\ncentre = [24.87, 44.86]\n\
                 [waste]\ndepot = [24.86, 44.88]\n\
                 [[waste.disposal]]\nname = \"compost\"\nlocation = [24.80, 44.80]\nstreams = [\"bio\"]\n\
                 [[waste.disposal]]\nname = \"landfill\"\nlocation = [24.82, 44.84]\nextra_km = 16.0\n\
                 [ev]\nsessions = \"s.csv\"\nshare = 0.05\n",
            )],
        };
        let city = load_city_from(&source).unwrap();
        let bio = city.collection_sites(WasteKind::Bio).unwrap();
        assert_eq!(bio.disposal, LonLat::new(24.80, 44.80));
        assert_eq!(bio.disposal_extra_km, 0.0);
        let glass = city.collection_sites(WasteKind::Glass).unwrap();
        assert_eq!(
            (glass.disposal_extra_km, glass.depot),
            (16.0, LonLat::new(24.86, 44.88))
        );
        assert_eq!(city.meta.ev.sessions.as_deref(), Some("s.csv"));
        assert_eq!(city.meta.ev.share, Some(0.05));
    }

    #[test]
    fn a_city_without_waste_sites_says_so_when_asked() {
        let source = BundleSource::Embedded {
            label: "test",
            files: &[("city.toml", BASE)],
        };
        let city = load_city_from(&source).unwrap();
        assert_eq!(
            city.collection_sites(WasteKind::Residual)
                .unwrap_err()
                .to_string(),
            "Test: city.toml gives no [waste] depot and disposal sites"
        );
    }

    #[test]
    fn bad_waste_and_ev_facts_are_refused() {
        let cases = [
            (
                "[waste]\ndepot = [24.86, 44.88]\ndisposal = []\n",
                "at least one",
            ),
            (
                "[waste]\ndepot = [24.86, 44.88]\n[[waste.disposal]]\nname = \"x\"\nlocation = [24.8, 44.8]\nstreams = [\"metal\"]\n",
                "stream `metal`",
            ),
            (
                "[waste]\ndepot = [24.86, 44.88]\n[[waste.disposal]]\nname = \"x\"\nlocation = [24.8, 44.8]\nextra_km = -1.0\n",
                "extra_km -1",
            ),
            (
                "[waste]\ndepot = [240.0, 44.88]\n[[waste.disposal]]\nname = \"x\"\nlocation = [24.8, 44.8]\n",
                "depot",
            ),
            ("[ev]\nshare = 1.5\n", "[ev] share 1.5"),
            ("[ev]\nelectric_buses = 3\n", "needs bus_km_per_day"),
            ("[ev]\ncars_per_1000 = -4.0\n", "cars_per_1000 -4"),
            ("[ev]\nsessoins = \"x.csv\"\n", "sessoins"),
        ];
        for (extra, fragment) in cases {
            let e = manifest(extra).unwrap_err().to_string();
            assert!(e.contains(fragment), "{extra}: {e}");
        }
    }

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
