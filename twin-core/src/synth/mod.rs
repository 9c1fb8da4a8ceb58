//! Deterministic generator of city bundles (placeholder, filled in below).
