//! `twin import epanet`: a utility's EPANET model into a city bundle.
//!
//! The model is checked as EPANET's input stage checks it (the hydraulic model is built, so
//! EPANET's input errors stop the import with their line), kept in its own units and ids
//! (re-encoded as UTF-8), and placed on the map by its CRS: `[layers] water_crs` in
//! `city.toml`, applied on every load ([`EpanetNetwork::place_in_wgs84`]). Entity ids follow
//! [`crate::water::ids`]; every element whose entity id differs from its EPANET id is a
//! warning. The isolation-valve layer comes from a CSV (WNTR's `valve,link,node`) or from the
//! model's own valves; without one, pipe breaks isolate whole networks, which is a warning.

use std::path::Path;

use crate::crs::{Crs, check_fits};
use crate::formats::epanet::EpanetNetwork;
use crate::geometry::LonLat;
use crate::water::ids::WaterIds;

use super::{ImportError, ImportReport, finish, manifest_to_extend, read_model_text, write_file};

/// Where the isolation valves of an imported network come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValveSource<'a> {
    /// None: a break isolates everything up to the sources (a warning).
    None,
    /// A CSV `valve,link,node` (WNTR's valve layer), or a GIS layer of valve points
    /// (GeoJSON, shapefile, GeoPackage; [`super::gis`]) copied into the bundle's `gis/`.
    File(&'a Path),
    /// Every `[VALVES]` link of the model, operated as an isolation valve.
    FromInp,
}

/// What `twin import epanet` is asked to do.
#[derive(Debug, Clone)]
pub struct EpanetImport<'a> {
    pub inp: &'a Path,
    /// The CRS of `[COORDINATES]` (`EPSG:NNNN`, a PROJ string or WKT); `None`: WGS84 degrees.
    pub crs: Option<&'a str>,
    pub valves: ValveSource<'a>,
    /// The bundle folder, created or extended.
    pub out: &'a Path,
    /// The city's name for a new bundle (default: the file's name).
    pub name: Option<&'a str>,
}

/// Files the import writes in the bundle.
const WATER_FILE: &str = "water.inp";
const VALVES_FILE: &str = "water_valves.csv";

/// Import an EPANET model into the bundle `req.out`, returning what the user should know.
/// Errors: the file cannot be read or EPANET would refuse it (file:line and why); coordinates
/// missing or not fitting the CRS (with the CRS to give); a valve layer naming links the model
/// lacks (its line).
pub fn import_epanet(req: &EpanetImport) -> Result<(crate::CityModel, ImportReport), ImportError> {
    let mut report = ImportReport::default();
    let path = req.inp;
    let text = read_model_text(path, &mut report)?;
    let net = EpanetNetwork::parse(&text)
        .map_err(|e| ImportError::input(path, format!("line {}: {}", e.line, e.message)))?;
    // Only drawing and report layout is read past ([REPORT], [VERTICES], [LABELS], [BACKDROP]).
    for (line, section) in &net.unsupported {
        report.notes.push(format!(
            "{}:{line}: [{section}] read past: drawing and report layout, no effect on any answer",
            path.display()
        ));
    }
    crate::water::HydModel::from_epanet(&net)
        .map_err(|e| ImportError::input(path, format!("EPANET would refuse the model: {e}")))?;
    let missing: Vec<&str> = net
        .node_ids()
        .into_iter()
        .filter(|id| !net.coordinates.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::input(
            path,
            format!(
                "{} nodes have no [COORDINATES] ({}): the map, outages and valve snapping need every node placed",
                missing.len(),
                first_few(&missing)
            ),
        ));
    }
    let crs = req
        .crs
        .map(Crs::parse)
        .transpose()
        .map_err(|e| ImportError::input(path, e.to_string()))?;
    let placed =
        placed_nodes(&net, crs.as_ref()).map_err(|message| ImportError::input(path, message))?;
    units_note(&net, path, &mut report);
    let ids = WaterIds::assign(&net);
    for r in ids.renamed() {
        report.warnings.push(format!(
            "{}: EPANET {} `{}` is entity {}: {}",
            path.display(),
            r.space.name(),
            r.epanet_id,
            r.entity,
            r.why
        ));
    }
    let valves = valve_layer(&net, req, &mut report)?;

    let name = req.name.map(str::to_string).unwrap_or_else(|| {
        path.file_stem()
            .map_or("Imported".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut manifest = manifest_to_extend(req.out, &name, &placed, &mut report)?;
    if manifest.layers.water.is_some() {
        report.notes.push(format!(
            "{}: the bundle's water network is replaced by {}",
            req.out.display(),
            path.display()
        ));
    }
    write_file(req.out, WATER_FILE, &text)?;
    manifest.layers.water = Some(WATER_FILE.into());
    manifest.layers.water_crs = req.crs.map(|c| c.trim().to_string());
    manifest.gis.retain(|g| g.layer != "water_valves");
    manifest.layers.water_valves = None;
    let _ = std::fs::remove_file(req.out.join(VALVES_FILE));
    match valves {
        Some(Valves::Csv(csv)) => {
            write_file(req.out, VALVES_FILE, &csv)?;
            manifest.layers.water_valves = Some(VALVES_FILE.into());
        }
        Some(Valves::Gis(file)) => manifest.gis.push(copy_gis_layer(file, req)?),
        None => {}
    }
    let header = format!(
        "# Water network imported by `twin import epanet` from {}.\n",
        path.display()
    );
    let city = finish(req.out, &manifest, &header)?;
    Ok((city, report))
}

/// Every node's place in WGS84 after checking the coordinates fit `crs`.
fn placed_nodes(net: &EpanetNetwork, crs: Option<&Crs>) -> Result<Vec<LonLat>, String> {
    let raw: Vec<(f64, f64)> = net.coordinates.values().copied().collect();
    check_fits(&raw, crs, "[COORDINATES]")?;
    net.coordinates
        .iter()
        .map(|(id, &(x, y))| match crs {
            Some(c) => c.to_wgs84(x, y).map_err(|e| format!("node `{id}`: {e}")),
            None => Ok(LonLat::new(x, y)),
        })
        .collect()
}

/// A note on the file's units: kept as they are, shown by the twin in SI.
fn units_note(net: &EpanetNetwork, path: &Path, report: &mut ImportReport) {
    let units = net
        .options
        .get("UNITS")
        .map_or("GPM (EPANET's default)".to_string(), |u| u.to_uppercase());
    let lengths = if net.flow_units.is_us() {
        "feet and inches"
    } else {
        "metres and millimetres"
    };
    report.notes.push(format!(
        "{}: flows in {units}, lengths in {lengths}; the file keeps its units and the twin shows metres, millimetres and litres per second",
        path.display()
    ));
}

/// The valve layer of the bundle.
enum Valves<'a> {
    /// CSV text for `water_valves.csv`.
    Csv(String),
    /// A GIS layer to copy and name in `[[gis]]`.
    Gis(&'a Path),
}

/// The valve layer to write, or `None` (with a warning) when there is none.
fn valve_layer<'a>(
    net: &EpanetNetwork,
    req: &EpanetImport<'a>,
    report: &mut ImportReport,
) -> Result<Option<Valves<'a>>, ImportError> {
    match req.valves {
        ValveSource::File(file)
            if !file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            report.notes.push(format!(
                "{}: isolation valves from a GIS layer, copied into the bundle's gis/ and snapped to the pipes on every load",
                file.display()
            ));
            Ok(Some(Valves::Gis(file)))
        }
        ValveSource::File(csv) => {
            let text = crate::formats::text::read_utf8_file(csv)
                .map_err(|e| ImportError::input(csv, e.to_string()))?;
            let rows = crate::bundle::read_valve_layer(&text, net)
                .map_err(|e| ImportError::input(csv, format!("line {}: {}", e.line, e.message)))?;
            report.notes.push(format!(
                "{}: {} isolation valves",
                csv.display(),
                rows.len()
            ));
            Ok(Some(Valves::Csv(text)))
        }
        ValveSource::FromInp => {
            if net.valves.is_empty() {
                report.warnings.push(format!(
                    "{}: --valves-from-inp, but the model has no [VALVES]: a pipe break will isolate everything up to the reservoirs and tanks; give --valves FILE.csv",
                    req.inp.display()
                ));
                return Ok(None);
            }
            let mut csv = String::from("valve,link,node\n");
            for v in &net.valves {
                csv.push_str(&format!(
                    "{},{},{}\n",
                    csv_field(&v.id),
                    csv_field(&v.id),
                    csv_field(&v.node1)
                ));
            }
            report.notes.push(format!(
                "{}: {} valve links ({}) operated as isolation valves; pipes between them are isolated together",
                req.inp.display(),
                net.valves.len(),
                first_few(&net.valves.iter().map(|v| v.id.as_str()).collect::<Vec<_>>())
            ));
            if net.valves.len() * 20 < net.pipes.len() {
                report.warnings.push(format!(
                    "{}: only {} valves for {} pipes: a pipe break will isolate large parts of the network; a GIS valve layer (--valves FILE.csv, or [[gis]] layer = \"water_valves\") gives realistic segments",
                    req.inp.display(),
                    net.valves.len(),
                    net.pipes.len()
                ));
            }
            Ok(Some(Valves::Csv(csv)))
        }
        ValveSource::None => {
            report.warnings.push(format!(
                "{}: no isolation-valve layer: a pipe break will isolate everything up to the reservoirs and tanks; give --valves FILE.csv (valve,link,node) or --valves-from-inp",
                req.inp.display()
            ));
            Ok(None)
        }
    }
}

/// Copy a GIS valve layer (with a shapefile's sidecar files) into `out/gis/` and return its
/// `[[gis]]` entry; the layer's CRS is the model's when the file does not say.
fn copy_gis_layer(file: &Path, req: &EpanetImport) -> Result<super::gis::GisSource, ImportError> {
    let dir = req.out.join("gis");
    std::fs::create_dir_all(&dir).map_err(|source| ImportError::Io {
        path: dir.clone(),
        source,
    })?;
    let stem = file
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let parent = file.parent().unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(parent).map_err(|source| ImportError::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .file_stem()
            .is_some_and(|s| s.to_string_lossy() == stem)
            && path.is_file()
        {
            let to = dir.join(entry.file_name());
            std::fs::copy(&path, &to).map_err(|source| ImportError::Io { path: to, source })?;
        }
    }
    let declared = crate::formats::gis::read_gis_layer(file, None)
        .map_err(|e| ImportError::input(file, e.to_string()))?
        .crs;
    let file_name = file.file_name().unwrap_or_default().to_string_lossy();
    Ok(super::gis::GisSource {
        layer: "water_valves".into(),
        file: format!("gis/{file_name}"),
        table: None,
        crs: match declared {
            crate::formats::gis::DeclaredCrs::Unknown => req.crs.map(|c| c.trim().to_string()),
            _ => None,
        },
        columns: Default::default(),
        values: Default::default(),
        defaults: Default::default(),
    })
}

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The first five of `items` and how many more.
pub(crate) fn first_few(items: &[&str]) -> String {
    let mut out: Vec<String> = items.iter().take(5).map(|s| s.to_string()).collect();
    if items.len() > 5 {
        out.push(format!("and {} more", items.len() - 5));
    }
    out.join(", ")
}
