//! Why an EV study, a scenario's EV model or the live feed's charging cannot run: what the
//! city lacks, or a setting out of range. Shared by the charging network, the stepper and the
//! study.

/// Why the EV model cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvStudyError {
    #[error("{0}")]
    MissingFact(String),
    #[error("the city has no power grid (no MATPOWER case)")]
    NoGrid,
    #[error("the city has no transformer posts")]
    NoPosts,
    #[error("--ev-share {0} is not between 0 and 1")]
    BadShare(f64),
    #[error("a step of {0} minutes does not divide a day")]
    BadStep(u32),
    #[error("{0}")]
    UnknownSite(String),
    #[error("added sockets: {0} (give at least one socket of a positive power)")]
    BadSockets(String),
    #[error("the load flow failed at step {step}: {why}")]
    LoadFlow { step: usize, why: String },
}
