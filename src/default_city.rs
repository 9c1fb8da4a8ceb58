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

/// Where the city of `--city` is read from: that bundle, or the built-in Pitești.
pub fn source(city: Option<&Path>) -> BundleSource {
    match city {
        Some(dir) => BundleSource::dir(dir),
        None => twin_core::builtin::pitesti(),
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
