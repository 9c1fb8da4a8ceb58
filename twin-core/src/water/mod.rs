//! Water distribution hydraulics: demand-driven steady state and extended-period simulation by
//! the Global Gradient Algorithm (Todini & Pilati 1988), as EPANET 2.2 does it.
//!
//! - [`model`]: the hydraulic model from an EPANET network, in EPANET's internal units
//!   (feet, cubic feet per second) so that results match EPANET's to rounding.
//! - [`sparse_ldl`]: the sparse symmetric positive-definite solver: minimum-degree ordering and
//!   an up-looking LDLᵀ factorisation, symbolic structure computed once per network.
//! - [`solver`]: Newton iterations on heads and flows; pipes (Hazen–Williams, Darcy–Weisbach),
//!   pumps (head curves), check valves, PRV/PSV/FCV/TCV valves with EPANET's status rules;
//!   tanks and patterns over time with simple controls.

pub mod isolation;
pub mod model;
pub mod solver;
pub mod sparse_ldl;

pub use model::HydModel;
pub use solver::{HydraulicError, Snapshot, simulate, simulate_model};
