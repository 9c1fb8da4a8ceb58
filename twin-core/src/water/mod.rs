//! Water distribution hydraulics: demand-driven steady state and extended-period simulation by
//! the Global Gradient Algorithm (Todini & Pilati 1988), as EPANET 2.2 does it.
//!
//! - [`model`]: the hydraulic model from an EPANET network, in EPANET's internal units
//!   (feet, cubic feet per second) so that results match EPANET's to rounding; its
//!   [`model::rules`] are the `[RULES]`.
//! - [`sparse_ldl`]: the sparse symmetric positive-definite solver: minimum-degree ordering and
//!   an up-looking LDLᵀ factorisation, symbolic structure computed once per network.
//! - [`solver`]: EPANET 2.2's hydraulics: Newton trials on heads and flows for pipes
//!   (Hazen–Williams, Darcy–Weisbach, Chezy–Manning), pumps (power-function, multi-point and
//!   constant-power curves, speeds and speed patterns), check valves and every valve type with
//!   EPANET's status rules, emitters and pressure-driven demand; tanks (volume curves), patterns
//!   and simple controls over time.

pub mod ids;
pub mod isolation;
pub mod model;
pub mod solver;
pub mod sparse_ldl;

pub use model::HydModel;
pub use solver::{
    EnergyReport, HydraulicError, HydraulicRun, PumpEnergy, Snapshot, run, simulate, simulate_model,
};
