//! # twin-actors — the live twin
//!
//! Will hold the actix actors of the live twin (one per street segment, power and water node,
//! waste bin and EV charger, sharded over one Arbiter per core), the network actors that re-solve
//! the flow models, the ingest adapters (MQTT, HTTP, replay, simulated feed), the sled store with
//! crash recovery, the feed of state deltas, and NATS JetStream sharding. See DESIGN.md §4, §8.
//!
//! Depends on `twin-core` for the model, validation and solvers.
//! **Must never depend on** `twin-viewer-ws` or `twin-scenarios`: front ends depend on the live
//! twin, not the other way round.
//!
//! Status: empty; the live-twin issue fills it.
