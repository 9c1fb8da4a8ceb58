//! Pitești as built in: its bundle (`data/pitesti`) and the charging sessions its city.toml
//! names, held in the binary, so a command or a scenario without a city of its own runs on
//! Pitești from any folder.

use crate::bundle::BundleSource;

/// The files of Pitești's bundle, by their names relative to the bundle's folder (the sessions
/// file is named as city.toml names it).
pub static PITESTI_FILES: &[(&str, &str)] = &[
    ("city.toml", include_str!("../../data/pitesti/city.toml")),
    (
        "boundary.geojson",
        include_str!("../../data/pitesti/boundary.geojson"),
    ),
    (
        "streets.geojson",
        include_str!("../../data/pitesti/streets.geojson"),
    ),
    (
        "intersections.geojson",
        include_str!("../../data/pitesti/intersections.geojson"),
    ),
    ("power.m", include_str!("../../data/pitesti/power.m")),
    (
        "power_buses.geojson",
        include_str!("../../data/pitesti/power_buses.geojson"),
    ),
    ("water.inp", include_str!("../../data/pitesti/water.inp")),
    (
        "water_valves.csv",
        include_str!("../../data/pitesti/water_valves.csv"),
    ),
    (
        "bins.geojson",
        include_str!("../../data/pitesti/bins.geojson"),
    ),
    (
        "chargers.geojson",
        include_str!("../../data/pitesti/chargers.geojson"),
    ),
    (
        "../ev/cp-data-mar-may-2018.csv",
        include_str!("../../data/ev/cp-data-mar-may-2018.csv"),
    ),
];

/// The built-in Pitești as a bundle source, labelled `pitesti (built in)` in messages.
pub fn pitesti() -> BundleSource {
    BundleSource::Embedded {
        label: "pitesti (built in)",
        files: PITESTI_FILES,
    }
}

/// Load the built-in Pitești. Errors: none on a sound build (the bundle is checked by the tests
/// that load it), a [`crate::BundleError`] otherwise.
pub fn load_pitesti() -> Result<crate::CityModel, crate::BundleError> {
    crate::bundle::load_city_from(&pitesti())
}
