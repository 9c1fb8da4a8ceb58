//! Integrated waste management models.
//!
//! - [`fill`]: how fast a bin fills (priors by stream, weekday and season; estimation from noisy
//!   level readings; emptying detected from level drops) and when it will be full, with an
//!   uncertainty interval;
//! - [`collection`]: a day's collection plan for one stream (truck trips over road distances,
//!   capacity and shifts);
//! - [`policy`]: which bins a fixed calendar or the sensor-driven policy empties on a day;
//! - [`report`]: citizen reports (validation, rate limit per reporter, resolution, KPIs);
//! - [`sorting`]: how people sort (capture rates) and what the sorting plant keeps, calibrated
//!   to Romania's published recycling rate;
//! - [`simulate`]: a month of filling and collection under both policies, with the KPIs.

pub mod collection;
pub mod fill;
pub mod policy;
pub mod report;
pub mod simulate;
pub mod sorting;
