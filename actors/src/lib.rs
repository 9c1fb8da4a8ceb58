//! # twin-actors — the live twin
//!
//! The actix actors of the live twin and what feeds them (DESIGN.md §4):
//! - [`entity`]: one actor per street segment, power and water element, bin and charger, spread
//!   over one Arbiter per core by hashing the id; bounded mailboxes; panic isolation;
//! - [`network`]: one actor per network (power, water, road, waste) that re-solves its model when
//!   enough has changed and publishes estimates and alerts;
//! - [`twin`]: start-up (restore from the store), the ingest pipeline (validate → log → flush →
//!   acknowledge → dispatch), snapshots and status;
//! - [`store`]: the sled log and snapshots behind a narrow interface;
//! - [`ingest`]: the simulated feed, MQTT and replay adapters;
//! - [`shared`]: what all actors of one twin share (city, counters, feed of changes);
//! - [`cluster`]: a node of a cluster on NATS JetStream (shards, leases, snapshots, deltas).
//!
//! Depends on `twin-core` for the model, validation and solvers.
//! **Must never depend on** `twin-viewer-ws` or `twin-scenarios`: front ends depend on the live
//! twin, not the other way round.

#[cfg(feature = "bench")]
pub mod bench;
pub mod cluster;
pub mod entity;
pub mod ingest;
pub mod network;
pub mod shared;
pub mod store;
pub mod twin;

pub use twin::{LiveTwin, StoreHandles, TwinConfig, TwinStatus};
