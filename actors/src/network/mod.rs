//! Network actors: one per network (power, water, road) plus the waste watch. Entity actors
//! inject what a network needs (post loads, charger power, junction demands, street congestion,
//! bin levels) into [`Injections`], latest value per element, without a message per change; each
//! network actor wakes on a timer, and re-solves when something changed and its minimum period
//! has passed (debounce with a maximum rate). It publishes estimates for every element, measured
//! or not, and alerts, on the feed and in [`Injections::latest`].
//!
//! - [`published`]: what a network publishes ([`NetworkKind`], [`Estimates`], [`Alert`]);
//! - [`injections`]: the latest values entity actors inject, per network;
//! - [`actor`]: the [`NetworkActor`] and its [`SolvePolicy`];
//! - [`estimate`]: the model runs behind each network's estimates and alerts.

pub mod actor;
pub mod estimate;
pub mod injections;
pub mod published;

pub use actor::{NetworkActor, SolveFn, SolvePolicy, solve_network};
pub use estimate::Solved;
pub use injections::Injections;
pub use published::{Alert, Estimates, NetworkKind};
