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
//! - [`study`]: the city study: the fleet's sessions on Pitești's chargers and homes, coupled to
//!   the 20 kV grid through the load flow.

pub mod calibration;
pub mod charging;
pub mod demand;
pub mod sessions;
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
}

/// The EV demand fit ([`DemandFit::from_sessions`]) on the real sessions of a Dundee-format
/// export at `path`.
pub fn load_demand_fit(path: &Path) -> Result<DemandFit, DemandFitError> {
    let sessions = read_dundee_sessions(path)?;
    DemandFit::from_sessions(&sessions).map_err(|why| DemandFitError::Fit {
        path: path.display().to_string(),
        why,
    })
}
