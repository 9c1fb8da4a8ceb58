//! How many shards a node should hold, and which to try first: the pure part of the lease
//! protocol. The protocol itself (in [`super::node`]) keeps leases in a JetStream KV bucket whose
//! entries expire after the lease time unless renewed:
//! - a node takes a free shard with `create` (which fails if another node holds it);
//! - it renews with `update` at the revision it last wrote (which fails if the lease changed
//!   hands), three times per lease time;
//! - a node that dies stops renewing, its leases expire, and the others take them;
//! - a node holding more than its fair share hands the surplus over: it snapshots the shard,
//!   then deletes the lease at its revision.

use std::collections::BTreeSet;

use super::shard::shard_of;

/// The most shards a node should hold when `live_nodes` nodes share `shards`: the ceiling of
/// the quotient, so that every shard has room to be held.
pub fn fair_share(shards: u32, live_nodes: usize) -> usize {
    let nodes = live_nodes.max(1);
    (shards as usize).div_ceil(nodes)
}

/// The shards to hand over: the surplus above the fair share, highest numbers first (a node
/// keeps the shards it has held longest when they are the lower ones; any rule works as long as
/// it is the same on every node).
pub fn surplus(owned: &BTreeSet<u32>, shards: u32, live_nodes: usize) -> Vec<u32> {
    let keep = fair_share(shards, live_nodes);
    owned
        .iter()
        .rev()
        .take(owned.len().saturating_sub(keep))
        .copied()
        .collect()
}

/// The order in which a node tries free shards: starting from its own hash, so that nodes
/// starting together do not all race for shard 0.
pub fn try_order(node: &str, shards: u32) -> impl Iterator<Item = u32> {
    let start = shard_of(node, shards);
    (0..shards).map(move |k| (start + k) % shards.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shares_cover_every_shard() {
        assert_eq!(fair_share(16, 1), 16);
        assert_eq!(fair_share(16, 3), 6);
        assert_eq!(fair_share(16, 0), 16);
        assert_eq!(fair_share(4, 8), 1);
    }

    #[test]
    fn the_surplus_is_the_highest_shards() {
        let owned: BTreeSet<u32> = (0..16).collect();
        assert_eq!(surplus(&owned, 16, 2), (8..16).rev().collect::<Vec<_>>());
        assert!(surplus(&owned, 16, 1).is_empty());
    }

    proptest! {
        #[test]
        fn every_node_tries_every_shard_once(node in "[a-z0-9-]{1,12}", shards in 1u32..64) {
            let order: Vec<u32> = try_order(&node, shards).collect();
            let set: BTreeSet<u32> = order.iter().copied().collect();
            prop_assert_eq!(order.len(), shards as usize);
            prop_assert_eq!(set, (0..shards).collect::<BTreeSet<_>>());
        }

        #[test]
        fn after_handing_over_a_node_holds_its_share(n in 0usize..40, shards in 1u32..64, nodes in 1usize..8) {
            let owned: BTreeSet<u32> = (0..shards).take(n).collect();
            let give = surplus(&owned, shards, nodes);
            prop_assert_eq!(owned.len() - give.len(), owned.len().min(fair_share(shards, nodes)));
            prop_assert!(give.iter().all(|s| owned.contains(s)));
        }
    }
}
