//! # twin-scenarios — what-if runs
//!
//! Scenario files (TOML) and their interventions ([`file`]), the deterministic runner that
//! advances the city's models on a simulated clock, baseline against scenario on the same seed
//! ([`run`]), and what a run writes: JSON, CSV and the offline HTML report ([`output`],
//! [`report`]). See DESIGN.md §6 and docs/scenarios.md.
//!
//! Depends only on `twin-core`: scenarios run plain model functions, never actors.
//! **Must never depend on** `twin-actors`, `twin-viewer-ws`, an async runtime or the network.
//!
//! [`script`] runs Rhai scripts over the same API, sandboxed; [`batch`] runs a scenario over
//! many seeds, here or as jobs a caller puts on a work queue.

pub mod batch;
pub mod file;
pub mod output;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod script;

pub use file::{Change, LoadError, Model, Scenario, ScenarioError, load_scenario};
pub use run::{Comparison, RunError, run_scenario};
