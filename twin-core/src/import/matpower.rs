//! `twin import matpower`: a MATPOWER case placed on the map, into a city bundle.
//!
//! A MATPOWER case has no geography (MATPOWER User's Manual 7.1, appendix B: bus rows hold
//! electrical data only), so every bus needs a place from a bus geography file: a CSV with a
//! header naming `bus` and `x`,`y` (or `lon`,`lat`), or a GIS layer (GeoJSON, shapefile,
//! GeoPackage) of points with a `bus` column; optional columns `name` and `customers`. A case
//! without one is refused for map use, naming the buses without a place.
//!
//! Each bus becomes an entity of the `power_buses` layer: a bus of type 3 (reference) or with
//! an in-service generator is a substation (`power:ss-<bus>`), any other a transformer post
//! (`power:pt-<bus>`) whose customers come from the `customers` column or from its load
//! (peak kW over [`crate::synth::power::KW_PER_HOUSEHOLD`], the after-diversity peak of a
//! Romanian household). Branches stay in the case as they are: lines become
//! `power:line-<row>`, normally open ones (status 0) tie switches `power:sw-<row>`, and
//! transformers (a tap ratio) are modelled by the load flow and drawn with their substation.

use std::collections::HashMap;
use std::path::Path;

use crate::crs::{Crs, check_fits};
use crate::entity::{Asset, Entity, Substation, TransformerPost};
use crate::formats::gis::{DeclaredCrs, GisGeometry, read_gis_layer};
use crate::formats::matpower::{BusType, MatpowerCase};
use crate::geometry::LonLat;
use crate::id::{EntityId, EntityKind};
use crate::synth::power::{KW_PER_HOUSEHOLD, PERSONS_PER_HOUSEHOLD, STANDARD_KVA};

use super::epanet::first_few;
use super::{ImportError, ImportReport, finish, manifest_to_extend, read_model_text, write_file};

/// What `twin import matpower` is asked to do.
#[derive(Debug, Clone)]
pub struct MatpowerImport<'a> {
    pub case: &'a Path,
    /// Where each bus is (see the module documentation); `None` refuses the import.
    pub bus_geo: Option<&'a Path>,
    /// The CRS of the bus geography when its file does not say (a CSV, a shapefile without
    /// `.prj`); `None`: WGS84 degrees.
    pub crs: Option<&'a str>,
    pub out: &'a Path,
    /// The city's name for a new bundle (default: the file's name).
    pub name: Option<&'a str>,
}

/// One bus's row of the geography file.
#[derive(Debug, Clone, PartialEq)]
struct BusPlace {
    /// Where in the file (`line 4`, `feature 2`), for messages.
    at: String,
    x: f64,
    y: f64,
    name: Option<String>,
    customers: Option<u32>,
}

const CASE_FILE: &str = "power.m";
const BUSES_FILE: &str = "power_buses.geojson";

/// Import a MATPOWER case into the bundle `req.out`. Errors: the case cannot be read or holds
/// MATLAB the reader does not evaluate (its line); no bus geography, a bus without a place or
/// a place for a bus the case lacks (the row), coordinates that do not fit the CRS.
pub fn import_matpower(
    req: &MatpowerImport,
) -> Result<(crate::CityModel, ImportReport), ImportError> {
    let mut report = ImportReport::default();
    let path = req.case;
    let text = read_model_text(path, &mut report)?;
    let mut case = MatpowerCase::parse(&text)
        .map_err(|e| ImportError::input(path, format!("line {}: {}", e.line, e.message)))?;
    case.apply_known_conversions();
    if let Some((line, statement)) = case.unevaluated.first() {
        return Err(ImportError::input(
            path,
            format!(
                "line {line}: MATLAB statement not understood (only the unit conversions of MATPOWER's distribution cases are): `{statement}`"
            ),
        ));
    }
    let Some(geo) = req.bus_geo else {
        return Err(ImportError::input(
            path,
            format!(
                "a MATPOWER case has no geography: give --bus-geo FILE (a CSV `bus,x,y` or a GIS layer of points with a `bus` column) placing its {} buses, so that the map, outages and chargers can use them",
                case.bus.len()
            ),
        ));
    };
    let (places, declared) = read_bus_places(geo)?;
    let crs =
        super::gis::choose_crs(geo, declared, req.crs).map_err(|m| ImportError::input(geo, m))?;
    let raw: Vec<(f64, f64)> = places.values().map(|p| (p.x, p.y)).collect();
    check_fits(&raw, crs.as_ref(), "the bus coordinates")
        .map_err(|m| ImportError::input(geo, m))?;
    let known: HashMap<u32, usize> = case
        .bus
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id, i))
        .collect();
    if let Some((bus, p)) = places.iter().find(|(bus, _)| !known.contains_key(bus)) {
        return Err(ImportError::input(
            geo,
            format!("{}: bus {bus} is not a bus of {}", p.at, path.display()),
        ));
    }
    let unplaced: Vec<String> = case
        .bus
        .iter()
        .filter(|b| !places.contains_key(&b.id))
        .map(|b| b.id.to_string())
        .collect();
    if !unplaced.is_empty() {
        let list: Vec<&str> = unplaced.iter().map(String::as_str).collect();
        return Err(ImportError::input(
            geo,
            format!(
                "{} buses of {} have no place ({}): every bus needs one for map use",
                unplaced.len(),
                path.display(),
                first_few(&list)
            ),
        ));
    }
    let entities = bus_entities(&case, &places, crs.as_ref(), geo)?;
    summarise(&case, &entities, path, &mut report);

    let name = req.name.map(str::to_string).unwrap_or_else(|| {
        path.file_stem()
            .map_or("Imported".into(), |s| s.to_string_lossy().into_owned())
    });
    let points: Vec<LonLat> = entities.iter().map(|e| e.location).collect();
    let mut manifest = manifest_to_extend(req.out, &name, &points, &mut report)?;
    if manifest.layers.power.is_some() {
        report.notes.push(format!(
            "{}: the bundle's power network is replaced by {}",
            req.out.display(),
            path.display()
        ));
    }
    write_file(req.out, CASE_FILE, &text)?;
    let features = crate::formats::layers::feature_collection(
        entities
            .iter()
            .filter_map(crate::formats::layers::entity_feature),
    );
    write_file(req.out, BUSES_FILE, &features)?;
    manifest.layers.power = Some(CASE_FILE.into());
    manifest.layers.power_buses = Some(BUSES_FILE.into());
    let header = format!(
        "# Power network imported by `twin import matpower` from {} (buses placed by {}).\n",
        path.display(),
        geo.display()
    );
    let city = finish(req.out, &manifest, &header)?;
    Ok((city, report))
}

/// The places of the buses by bus number, and the CRS the file declares.
fn read_bus_places(geo: &Path) -> Result<(HashMap<u32, BusPlace>, DeclaredCrs), ImportError> {
    let is_csv = geo
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let rows = if is_csv {
        (read_bus_csv(geo)?, DeclaredCrs::Unknown)
    } else {
        let layer =
            read_gis_layer(geo, None).map_err(|e| ImportError::input(geo, e.to_string()))?;
        let mut rows = Vec::new();
        for f in layer.features {
            let at = format!("feature {}", f.index);
            let GisGeometry::Point([x, y]) = f.geometry else {
                return Err(ImportError::input(
                    geo,
                    format!("{at}: a bus place must be a Point"),
                ));
            };
            let text = |k: &str| match f.properties.get(k) {
                Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            rows.push((at, text("bus"), x, y, text("name"), text("customers")));
        }
        (rows, layer.crs)
    };
    let mut places = HashMap::new();
    for (at, bus, x, y, name, customers) in rows.0 {
        let bus: u32 = bus
            .as_deref()
            .and_then(|b| b.parse::<f64>().ok())
            .filter(|b| b.fract() == 0.0 && *b >= 1.0 && *b <= f64::from(u32::MAX))
            .map(|b| b as u32)
            .ok_or_else(|| {
                ImportError::input(geo, format!("{at}: `bus` {bus:?} is not a bus number"))
            })?;
        let customers = match customers.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(c.parse::<u32>().map_err(|_| {
                ImportError::input(geo, format!("{at}: customers `{c}` is not a whole number"))
            })?),
        };
        let place = BusPlace {
            at: at.clone(),
            x,
            y,
            name: name.filter(|n| !n.is_empty()),
            customers,
        };
        if let Some(first) = places.insert(bus, place) {
            return Err(ImportError::input(
                geo,
                format!("{at}: bus {bus} is placed twice (first at {})", first.at),
            ));
        }
    }
    Ok((places, rows.1))
}

type CsvBusRow = (
    String,
    Option<String>,
    f64,
    f64,
    Option<String>,
    Option<String>,
);

/// A CSV of bus places: a header naming `bus` and `x`,`y` or `lon`,`lat` (any order, any
/// case), optional `name` and `customers`; every row's line in messages.
fn read_bus_csv(path: &Path) -> Result<Vec<CsvBusRow>, ImportError> {
    let text = crate::formats::text::read_utf8_file(path)
        .map_err(|e| ImportError::input(path, e.to_string()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::input(path, e.to_string()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let (Some(bus), Some(x), Some(y)) = (col(&["bus"]), col(&["x", "lon"]), col(&["y", "lat"]))
    else {
        return Err(ImportError::input(
            path,
            format!(
                "line 1: the header must name `bus` and `x`,`y` (or `lon`,`lat`); it has {}",
                header.join(",")
            ),
        ));
    };
    let (name, customers) = (col(&["name"]), col(&["customers"]));
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ImportError::input(path, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = format!("line {line}");
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::to_string);
        let num = |i: usize, what: &str| -> Result<f64, ImportError> {
            record
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    ImportError::input(
                        path,
                        format!(
                            "{at}: {what} `{}` is not a number",
                            record.get(i).unwrap_or("")
                        ),
                    )
                })
        };
        rows.push((
            at.clone(),
            field(Some(bus)),
            num(x, "x")?,
            num(y, "y")?,
            field(name),
            field(customers),
        ));
    }
    Ok(rows)
}

/// The `power_buses` entities of the case, placed.
fn bus_entities(
    case: &MatpowerCase,
    places: &HashMap<u32, BusPlace>,
    crs: Option<&Crs>,
    geo: &Path,
) -> Result<Vec<Entity>, ImportError> {
    let mut out = Vec::with_capacity(case.bus.len());
    for (row, bus) in case.bus.iter().enumerate() {
        let place = &places[&bus.id];
        let location = match crs {
            Some(c) => c
                .to_wgs84(place.x, place.y)
                .map_err(|e| ImportError::input(geo, format!("{}: {e}", place.at)))?,
            None => LonLat::new(place.x, place.y),
        };
        let generators: Vec<_> = case
            .generators
            .iter()
            .filter(|g| g.bus == bus.id && g.in_service)
            .collect();
        let (local, asset) = if bus.bus_type == BusType::Ref || !generators.is_empty() {
            let mva: f64 = generators.iter().map(|g| g.mbase_mva).sum();
            let rated = if mva > 0.0 { mva } else { case.base_mva };
            (
                format!("ss-{}", bus.id),
                Asset::Substation(Substation {
                    bus: bus.id,
                    rated_kva: rated * 1000.0,
                    high_kv: bus.base_kv,
                    low_kv: bus.base_kv,
                }),
            )
        } else {
            let peak_kw = bus.pd_mw * 1000.0;
            let customers = place
                .customers
                .unwrap_or_else(|| (peak_kw.max(0.0) / KW_PER_HOUSEHOLD).round() as u32);
            let needed_kva = peak_kw / 0.95 / 0.75;
            (
                format!("pt-{}", bus.id),
                Asset::TransformerPost(TransformerPost {
                    bus: bus.id,
                    rated_kva: STANDARD_KVA
                        .iter()
                        .copied()
                        .find(|&s| s >= needed_kva)
                        .unwrap_or(needed_kva.ceil()),
                    customers,
                    population: (f64::from(customers) * PERSONS_PER_HOUSEHOLD).round() as u32,
                    peak_kw: 0.0,
                    peak_kvar: 0.0,
                }),
            )
        };
        let id = EntityId::new(EntityKind::Power, local).expect("bus numbers make valid ids");
        let name = place
            .name
            .clone()
            .or_else(|| case.bus_names.get(row).cloned().filter(|n| !n.is_empty()));
        out.push(Entity::new(id, location, asset).with_name(name));
    }
    Ok(out)
}

/// Notes on what became what.
fn summarise(case: &MatpowerCase, entities: &[Entity], path: &Path, report: &mut ImportReport) {
    let substations = entities
        .iter()
        .filter(|e| matches!(e.asset, Asset::Substation(_)))
        .count();
    let transformers = case.branch.iter().filter(|b| b.ratio != 0.0).count();
    let switches = case
        .branch
        .iter()
        .filter(|b| b.ratio == 0.0 && !b.in_service)
        .count();
    let customers: u32 = entities
        .iter()
        .filter_map(|e| match &e.asset {
            Asset::TransformerPost(t) => Some(t.customers),
            _ => None,
        })
        .sum();
    report.notes.push(format!(
        "{}: {} buses: {substations} substations and {} transformer posts ({customers} customers); {} lines, {switches} normally open tie switches, {transformers} transformers (kept in the case, drawn with their substation)",
        path.display(),
        case.bus.len(),
        entities.len() - substations,
        case.branch.len() - transformers - switches,
    ));
}
