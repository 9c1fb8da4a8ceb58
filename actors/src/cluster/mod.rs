//! Scaling the live twin past one machine on NATS JetStream (DESIGN.md §8).
//!
//! - Readings go to one replicated JetStream stream, on `citytwin.readings.<shard>.<kind>.<id>`
//!   ([`shard`]): entity ids hash to a fixed number of shards. A node's sources publish there
//!   ([`edge`]) and are acknowledged once the stream holds the reading.
//! - Nodes hold shard leases in a JetStream KV bucket whose entries expire unless renewed
//!   ([`leases`]); each node takes about its fair share. A node that dies loses its leases, and
//!   another takes them, restores the shard's last snapshot from a JetStream object store and
//!   replays the stream after it ([`node`]).
//! - Owners publish what their readings changed on core NATS subjects (`citytwin.deltas.<shard>`)
//!   and every node passes the others' deltas to its feed and network models, so any node
//!   serves a viewer the whole city.
//!
//! Nothing here is a protocol of its own: ordering, durability, replication, expiry and
//! compare-and-set are JetStream's.

#[cfg(feature = "bench")]
pub mod bench;
pub mod edge;
pub mod leases;
mod node;
pub mod shard;
pub mod work_queue;

pub use edge::ClusterEdge;
pub use node::{ClusterConfig, ClusterError, ClusterHandle, start_cluster};
