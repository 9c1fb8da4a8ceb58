//! Power distribution: AC load flow of radial feeders, outages and restoration by switching,
//! and the reliability indices of IEEE 1366.
//!
//! - [`load_flow`]: backward/forward sweep on the MATPOWER branch model (series impedance,
//!   line charging, off-nominal taps), constant-power loads; weakly meshed networks (closed tie
//!   switches) by loop compensation at breakpoints.
//! - [`outage`]: which buses and customers a set of failed elements cuts off, and the tie
//!   switches that restore them without overloads or voltages out of limits.
//! - [`reliability`]: SAIFI, SAIDI, CAIDI and ENS over a set of interruption events.
//! - [`events`]: a year of outage events from a file, studied into those indices.
//! - [`grid`]: the grid at a moment ([`GridState`]): a case's network with the loads and
//!   switch states the live twin, scenarios and studies set, solved without editing the case.

pub mod events;
pub mod grid;
pub mod load_flow;
pub mod outage;
pub mod reliability;

pub use grid::GridState;
pub use load_flow::{
    BranchFlow, LoadFlowError, LoadFlowMethod, LoadFlowResult, ReactiveLimit, solve_load_flow,
};

/// Whether a transformer post carrying `s_kva` of apparent power is over its rating: above it
/// by more than a part in 10⁹ (round-off of a load exactly at the rating is not an overload).
/// The one rule the EV study, the scenario runner and the live twin count overloads by.
pub fn post_overloaded(s_kva: f64, rated_kva: f64) -> bool {
    s_kva > rated_kva * (1.0 + 1e-9)
}
