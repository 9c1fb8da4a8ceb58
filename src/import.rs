//! `twin import osm|epanet|matpower` and `twin city check`: the files a city or a utility has,
//! made into a bundle the twin runs on, and the bundle checked before use.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use twin_core::import::ImportReport;
use twin_core::import::epanet::{EpanetImport, ValveSource};
use twin_core::import::matpower::MatpowerImport;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import the drivable streets of an OpenStreetMap extract (.osm XML or .osm.pbf).
    Osm {
        file: PathBuf,
        /// Keep only what lies inside this GeoJSON polygon.
        #[arg(long)]
        boundary: Option<PathBuf>,
        /// Output bundle folder.
        #[arg(long)]
        out: PathBuf,
        /// City name for city.toml (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Import a utility's EPANET model (any units, any CRS) into a bundle, created or extended.
    Epanet {
        file: PathBuf,
        /// The CRS of [COORDINATES]: EPSG:NNNN (EPSG:3844 is Romania's Stereo 70), a PROJ
        /// string (+proj=…) or WKT. Needed when the coordinates are not longitude and latitude.
        #[arg(long)]
        crs: Option<String>,
        /// Isolation valves: a CSV `valve,link,node` (WNTR's valve layer; EPANET ids), or a GIS
        /// layer of valve points (GeoJSON, shapefile, GeoPackage; snapped to the nearest pipe).
        #[arg(long, conflicts_with = "valves_from_inp")]
        valves: Option<PathBuf>,
        /// Operate the model's own [VALVES] links as isolation valves.
        #[arg(long)]
        valves_from_inp: bool,
        /// The bundle folder (created, or extended when it has a city.toml).
        #[arg(long)]
        out: PathBuf,
        /// The city's name for a new bundle (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Import a MATPOWER case into a bundle, its buses placed by a geography file.
    Matpower {
        file: PathBuf,
        /// Where each bus is: CSV `bus,x,y` (or `bus,lon,lat`; optional `name`, `customers`),
        /// or a GeoJSON, shapefile or GeoPackage of points with a `bus` column.
        #[arg(long)]
        bus_geo: Option<PathBuf>,
        /// The CRS of the bus places when their file does not say (a CSV): EPSG:NNNN, a PROJ
        /// string or WKT.
        #[arg(long)]
        crs: Option<String>,
        /// The bundle folder (created, or extended when it has a city.toml).
        #[arg(long)]
        out: PathBuf,
        /// The city's name for a new bundle (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Osm {
            file,
            boundary,
            out,
            name,
        } => import_osm(&file, boundary.as_deref(), &out, name),
        ImportCommand::Epanet {
            file,
            crs,
            valves,
            valves_from_inp,
            out,
            name,
        } => {
            let valves = match (&valves, valves_from_inp) {
                (Some(file), _) => ValveSource::File(file),
                (None, true) => ValveSource::FromInp,
                (None, false) => ValveSource::None,
            };
            let (city, report) = twin_core::import::epanet::import_epanet(&EpanetImport {
                inp: &file,
                crs: crs.as_deref(),
                valves,
                out: &out,
                name: name.as_deref(),
            })?;
            print_report(&report);
            let s = city.summary();
            println!(
                "{}: {} water entities in the bundle {} ({} in all); next: twin city check {}",
                file.display(),
                city.water.graph.node_count() + city.water.graph.edge_count(),
                out.display(),
                s.entities,
                out.display()
            );
            Ok(())
        }
        ImportCommand::Matpower {
            file,
            bus_geo,
            crs,
            out,
            name,
        } => {
            let (city, report) = twin_core::import::matpower::import_matpower(&MatpowerImport {
                case: &file,
                bus_geo: bus_geo.as_deref(),
                crs: crs.as_deref(),
                out: &out,
                name: name.as_deref(),
            })?;
            print_report(&report);
            println!(
                "{}: bundle {} ({} entities in all); next: twin city check {}",
                file.display(),
                out.display(),
                city.summary().entities,
                out.display()
            );
            Ok(())
        }
    }
}

fn print_report(report: &ImportReport) {
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for n in &report.notes {
        println!("note: {n}");
    }
}

/// `twin city check DIR`: the report, and exit status 1 when it holds an error.
pub fn check(dir: &Path) -> Result<()> {
    let report = twin_core::import::check::check_bundle(dir);
    for e in &report.errors {
        println!("error: {e}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    if !report.is_ok() {
        bail!(
            "{}: {} errors to fix before the twin can use the bundle",
            dir.display(),
            report.errors.len()
        );
    }
    println!(
        "{}: ready ({} warnings)",
        dir.display(),
        report.warnings.len()
    );
    Ok(())
}

fn import_osm(
    file: &Path,
    boundary: Option<&Path>,
    out: &Path,
    name: Option<String>,
) -> Result<()> {
    let boundary_text = match boundary {
        Some(path) => Some(
            twin_core::formats::text::read_utf8_file(path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let boundary = match (&boundary_text, boundary) {
        (Some(text), Some(path)) => Some(
            twin_core::geometry::Boundary::from_geojson_str(text)
                .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?,
        ),
        _ => None,
    };
    let osm = twin_core::osm::read_osm_file(file)?;
    let import = twin_core::osm::build_street_segments(&osm, boundary.as_ref());
    if import.segments.is_empty() {
        bail!("{}: no drivable street inside the boundary", file.display());
    }
    let name = name.unwrap_or_else(|| {
        file.file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.split('.').next().unwrap_or(n).to_string())
            .unwrap_or_default()
    });
    twin_core::bundle::write_street_bundle(out, &name, &import.segments, boundary_text.as_deref())?;
    // Loading checks the city's invariants on what the import produced.
    twin_core::load_city(out)
        .with_context(|| format!("the imported bundle in {}", out.display()))?;
    let s = &import.stats;
    println!(
        "{}: {} ways, {} drivable; {} street segments ({} oneway) between {} intersections; {} node references missing, {} nodes outside the boundary; {} roads closed to cars (access=no) skipped; {} deleted objects skipped, {} relations not used (turn restrictions are not modelled); bundle in {}",
        file.display(),
        s.ways_read,
        s.drivable_ways,
        s.segments,
        s.oneway_segments,
        s.intersections,
        s.missing_node_refs,
        s.nodes_outside_boundary,
        s.closed_to_cars,
        osm.deleted_skipped,
        osm.relations_ignored,
        out.display()
    );
    for (tag, ways) in &s.unmodelled_tags {
        eprintln!(
            "note: {ways} drivable ways carry `{tag}`, which the road graph does not model; they are imported without it"
        );
    }
    Ok(())
}
