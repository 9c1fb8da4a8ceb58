//! Electric vehicles and their charging, for the Dacia-Renault partners' question: as more cars
//! go electric, where and when does charging load land on the city's grid, and what does it
//! take to serve it?
//!
//! - [`sessions`]: real session exports (Dundee 2018) and the feed's simple calibration;
//! - [`calibration`]: the demand fit on real sessions (arrivals by hour, joint dwell and energy)
//!   and the even-spread load profile used to check it against the data;
//! - [`vehicles`]: the fleet mix with published specifications, charging curves, fleet size from
//!   population and motorisation, Publitrans' electric buses;
//! - [`demand`]: charging sessions by site type and time of day, seeded;
//! - [`charging`]: sockets, queues, vehicle limits and smart charging under power caps, step by
//!   step;
//! - [`error`]: why the EV model cannot run;
//! - [`network`]: where the city's cars and buses charge (homes, workplaces, public chargers,
//!   depot, added stations and sockets);
//! - [`stepper`]: one step of charging on the grid, with smart charging (post caps, valley
//!   filling), shared by the study, the scenario runner and the live feed;
//! - [`study`]: the city study: the fleet's sessions on Pitești's chargers and homes, coupled to
//!   the 20 kV grid through the load flow.

pub mod calibration;
pub mod charging;
pub mod demand;
pub mod error;
pub mod network;
pub mod sessions;
pub mod stepper;
pub mod study;
pub mod vehicles;

pub use sessions::{
    ChargingCalibration, Session, SessionsError, parse_dundee_sessions, read_dundee_sessions,
};

use std::path::Path;

use calibration::DemandFit;

/// Why the EV demand could not be calibrated on a sessions file.
#[derive(Debug, thiserror::Error)]
pub enum DemandFitError {
    #[error("reading the charging sessions: {0}")]
    Sessions(#[from] SessionsError),
    #[error("calibrating on {path}: {why}")]
    Fit { path: String, why: String },
    #[error(transparent)]
    NoSessions(#[from] crate::city::MissingCityFact),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
}

/// The EV demand fit ([`DemandFit::from_sessions`]) on the real sessions of a Dundee-format
/// export at `path`.
pub fn load_demand_fit(path: &Path) -> Result<DemandFit, DemandFitError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| SessionsError::Io {
        path: name.clone(),
        source,
    })?;
    demand_fit_of(file, &name)
}

/// [`load_demand_fit`] on an export from any reader (an embedded copy); `name` names it in
/// errors.
pub fn demand_fit_of(input: impl std::io::Read, name: &str) -> Result<DemandFit, DemandFitError> {
    let sessions = parse_dundee_sessions(input, name)?;
    DemandFit::from_sessions(&sessions).map_err(|why| DemandFitError::Fit {
        path: name.to_string(),
        why,
    })
}

/// The EV demand fit a command uses: on `sessions` when given, else on the sessions the city's
/// bundle names (`[ev] sessions` in its city.toml, relative to the bundle), read from the
/// bundle's `source`.
pub fn demand_fit_for(
    source: &crate::bundle::BundleSource,
    city: &crate::CityModel,
    sessions: Option<&Path>,
) -> Result<DemandFit, DemandFitError> {
    if let Some(path) = sessions {
        return load_demand_fit(path);
    }
    let name = city
        .meta
        .ev
        .sessions
        .as_deref()
        .ok_or_else(|| crate::city::MissingCityFact {
            city: city.meta.name.clone(),
            what: "[ev] sessions to calibrate EV demand on".into(),
        })?;
    let text = source.read_text(name)?;
    demand_fit_of(text.as_bytes(), &source.path_of(name).display().to_string())
}
