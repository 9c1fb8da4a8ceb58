//! Which city a command runs on, and the EV calibration that goes with it.
//!
//! Without `--city`, a command runs on Pitești as built into the binary (the bundle in
//! `data/pitesti` and the charging sessions its city.toml names), so an installed `twin` works
//! from any folder. With `--city DIR`, it reads that bundle; the EV calibration then comes from
//! the sessions file the bundle's `[ev] sessions` names, unless `--sessions` gives another.

use std::path::Path;

use anyhow::{Context, Result};
use twin_core::CityModel;
use twin_core::bundle::{BundleSource, load_city_from};
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::demand_fit_for;

/// The files of Pitești's bundle, by their names relative to the bundle's folder (the sessions
/// file is named as city.toml names it).
static PITESTI: &[(&str, &str)] = &[
    ("city.toml", include_str!("../data/pitesti/city.toml")),
    (
        "boundary.geojson",
        include_str!("../data/pitesti/boundary.geojson"),
    ),
    (
        "streets.geojson",
        include_str!("../data/pitesti/streets.geojson"),
    ),
    (
        "intersections.geojson",
        include_str!("../data/pitesti/intersections.geojson"),
    ),
    ("power.m", include_str!("../data/pitesti/power.m")),
    (
        "power_buses.geojson",
        include_str!("../data/pitesti/power_buses.geojson"),
    ),
    ("water.inp", include_str!("../data/pitesti/water.inp")),
    (
        "water_valves.csv",
        include_str!("../data/pitesti/water_valves.csv"),
    ),
    ("bins.geojson", include_str!("../data/pitesti/bins.geojson")),
    (
        "chargers.geojson",
        include_str!("../data/pitesti/chargers.geojson"),
    ),
    (
        "../ev/cp-data-mar-may-2018.csv",
        include_str!("../data/ev/cp-data-mar-may-2018.csv"),
    ),
];

/// Where the city of `--city` is read from: that bundle, or the built-in Pitești.
pub fn source(city: Option<&Path>) -> BundleSource {
    match city {
        Some(dir) => BundleSource::dir(dir),
        None => BundleSource::Embedded {
            label: "pitesti (built in)",
            files: PITESTI,
        },
    }
}

/// Load the city of `--city` (the built-in Pitești without it), with where it came from.
pub fn load(city: Option<&Path>) -> Result<(CityModel, BundleSource)> {
    let source = source(city);
    let model = load_city_from(&source).with_context(|| match city {
        Some(dir) => format!("loading the city {}", dir.display()),
        None => "loading the built-in city".to_string(),
    })?;
    Ok((model, source))
}

/// The EV demand fit: on `--sessions` when given, else on the sessions the city's bundle names
/// (`[ev] sessions` in its city.toml).
pub fn demand_fit(
    source: &BundleSource,
    city: &CityModel,
    sessions: Option<&Path>,
) -> Result<DemandFit> {
    demand_fit_for(source, city, sessions).context(if sessions.is_some() {
        "--sessions"
    } else {
        "the EV calibration (give --sessions FILE for another)"
    })
}
