//! Integrated waste management models.
//!
//! - [`fill`]: how fast a bin fills (priors by stream, weekday and season; estimation from noisy
//!   level readings; emptying detected from level drops) and when it will be full, with an
//!   uncertainty interval.

pub mod fill;
