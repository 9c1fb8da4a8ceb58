//! # twin-scenarios — what-if runs
//!
//! Will hold scenario files (TOML), interventions, the simulated clock, the deterministic runner
//! (baseline against scenario on the same seed), batches and Monte Carlo, Rhai scripting and the
//! reports (JSON, CSV, HTML). See DESIGN.md §6.
//!
//! Depends only on `twin-core`: scenarios run plain model functions, never actors.
//! **Must never depend on** `twin-actors`, `twin-viewer-ws`, an async runtime or the network.
//!
//! Status: [`report`] (the HTML reports every study shares) is in; the scenario runner is the
//! scenarios issue's.

pub mod report;
