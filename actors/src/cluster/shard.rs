//! Which shard an entity belongs to, and the NATS subjects and names that follow from it.
//!
//! Every node of a cluster must agree on an entity's shard without talking, so the hash is
//! FNV-1a (64-bit) of the entity id's text: fixed by its definition, unlike the standard
//! library's hasher, which may change between Rust versions.

use twin_core::{CityModel, EntityId};

/// The JetStream stream that holds every accepted reading: the cluster's log of record.
pub const READINGS_STREAM: &str = "CITYTWIN_READINGS";
/// Readings are published on `citytwin.readings.<shard>.<kind>.<local id>`.
pub const READINGS_PREFIX: &str = "citytwin.readings";
/// Owners publish what their readings changed on `citytwin.deltas.<shard>` (core NATS).
pub const DELTAS_PREFIX: &str = "citytwin.deltas";
/// The KV bucket of shard leases (`shard-<n>`) and node heartbeats (`node-<id>`).
pub const LEASES_BUCKET: &str = "citytwin-leases";
/// The object store of shard snapshots (`shard-<n>`).
pub const SNAPSHOTS_BUCKET: &str = "citytwin-snapshots";

use twin_core::stable_hash::fnv1a64;

/// The shard of an entity id among `shards` (at least 1).
pub fn shard_of(entity_id: &str, shards: u32) -> u32 {
    (fnv1a64(entity_id.as_bytes()) % u64::from(shards.max(1))) as u32
}

/// The subject a reading of `entity` is published on. A local id may hold `.`, which separates
/// subject tokens, so it becomes `_` there; the subject routes, the payload names the entity.
pub fn reading_subject(entity: &EntityId, shards: u32) -> String {
    let id = entity.to_string();
    format!(
        "{READINGS_PREFIX}.{}.{}.{}",
        shard_of(&id, shards),
        entity.kind().prefix(),
        entity.local().replace('.', "_")
    )
}

/// The subjects of one shard's readings.
pub fn shard_filter(shard: u32) -> String {
    format!("{READINGS_PREFIX}.{shard}.>")
}

/// The subject of one shard's deltas.
pub fn delta_subject(shard: u32) -> String {
    format!("{DELTAS_PREFIX}.{shard}")
}

/// Where the owner of a shard answers for the shard's whole published state (a node that saw a
/// gap in the shard's deltas asks it).
pub const STATE_PREFIX: &str = "citytwin.state";

/// The subject on which a shard's owner answers for its state.
pub fn state_subject(shard: u32) -> String {
    format!("{STATE_PREFIX}.{shard}")
}

/// The shard named by a readings or deltas subject.
pub fn shard_of_subject(subject: &str) -> Option<u32> {
    let rest = subject
        .strip_prefix(READINGS_PREFIX)
        .or_else(|| subject.strip_prefix(DELTAS_PREFIX))
        .or_else(|| subject.strip_prefix(STATE_PREFIX))?;
    rest.strip_prefix('.')?.split('.').next()?.parse().ok()
}

/// The lease key of a shard in [`LEASES_BUCKET`].
pub fn lease_key(shard: u32) -> String {
    format!("shard-{shard}")
}

/// The heartbeat key of a node in [`LEASES_BUCKET`].
pub fn node_key(node: &str) -> String {
    format!("node-{node}")
}

/// The snapshot object of a shard in [`SNAPSHOTS_BUCKET`].
pub fn snapshot_name(shard: u32) -> String {
    format!("shard-{shard}")
}

/// The object holding a shard's snapshot written under the lease created at `epoch` (that
/// lease's first revision): a node that lost its lease writes under an older epoch, so its
/// late snapshot never shadows the holder's.
pub fn snapshot_object(shard: u32, epoch: u64) -> String {
    format!("{}@{epoch:020}", snapshot_name(shard))
}

/// The epoch of a shard's snapshot object named `name` (0 for the unnumbered name of earlier
/// versions), or `None` when the object is not one of the shard's snapshots.
pub fn snapshot_epoch(name: &str, shard: u32) -> Option<u64> {
    let rest = name.strip_prefix(&snapshot_name(shard))?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix('@')?.parse().ok()
}

/// A node id must be usable as a KV key token: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn check_node_id(node: &str) -> Result<(), String> {
    if node.is_empty()
        || node.len() > 64
        || !node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "node id `{node}` must be 1 to 64 characters of A-Z, a-z, 0-9, `_` and `-`"
        ));
    }
    Ok(())
}

/// The city's entities by shard: for each shard, the indices of its entities in city order.
#[derive(Debug, Clone)]
pub struct ShardMap {
    shards: u32,
    of_entity: Vec<u32>,
    members: Vec<Vec<usize>>,
}

impl ShardMap {
    pub fn new(city: &CityModel, shards: u32) -> ShardMap {
        let shards = shards.max(1);
        let of_entity: Vec<u32> = city
            .entities()
            .iter()
            .map(|e| shard_of(&e.id.to_string(), shards))
            .collect();
        let mut members = vec![Vec::new(); shards as usize];
        for (i, &s) in of_entity.iter().enumerate() {
            members[s as usize].push(i);
        }
        ShardMap {
            shards,
            of_entity,
            members,
        }
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The shard of the entity at `index` in the city.
    pub fn of_entity(&self, index: usize) -> Option<u32> {
        self.of_entity.get(index).copied()
    }

    /// The entities of a shard, by index in the city.
    pub fn members(&self, shard: u32) -> &[usize] {
        self.members
            .get(shard as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn snapshot_objects_carry_their_epoch_and_their_shard_only() {
        assert_eq!(snapshot_epoch(&snapshot_object(1, 42), 1), Some(42));
        assert_eq!(
            snapshot_epoch(&snapshot_object(10, 42), 1),
            None,
            "shard 10 is not 1"
        );
        assert_eq!(
            snapshot_epoch("shard-1", 1),
            Some(0),
            "an earlier version's name"
        );
        assert!(
            snapshot_object(3, 9) < snapshot_object(3, 10),
            "names sort by epoch"
        );
    }

    #[test]
    fn the_hash_is_fnv_1a() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(
            shard_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(shard_of("", 7), (0xcbf2_9ce4_8422_2325_u64 % 7) as u32);
    }

    #[test]
    fn subjects_route_by_shard_and_escape_dots() {
        let id: EntityId = "water:j.88".parse().expect("id");
        let subject = reading_subject(&id, 16);
        let shard = shard_of("water:j.88", 16);
        assert_eq!(subject, format!("citytwin.readings.{shard}.water.j_88"));
        assert_eq!(shard_of_subject(&subject), Some(shard));
        assert_eq!(shard_of_subject(&delta_subject(5)), Some(5));
        assert_eq!(shard_of_subject("citytwin.other.5"), None);
        assert_eq!(shard_filter(3), "citytwin.readings.3.>");
    }

    #[test]
    fn node_ids_are_checked() {
        assert!(check_node_id("node-a_1").is_ok());
        for bad in ["", "a.b", "a b", "a*", &"x".repeat(65)] {
            assert!(check_node_id(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_shard_is_in_range_and_the_same_every_time(id in "[a-z]{1,8}:[A-Za-z0-9._-]{1,20}", shards in 1u32..256) {
            let s = shard_of(&id, shards);
            prop_assert!(s < shards);
            prop_assert_eq!(s, shard_of(&id, shards));
        }
    }

    #[test]
    fn pitesti_spreads_over_shards() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti");
        let city = twin_core::load_city(&root).expect("city");
        let map = ShardMap::new(&city, 16);
        let sizes: Vec<usize> = (0..16).map(|s| map.members(s).len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), city.entities().len());
        let mean = city.entities().len() as f64 / 16.0;
        for (s, &n) in sizes.iter().enumerate() {
            assert!(
                (n as f64 - mean).abs() < 0.1 * mean,
                "shard {s} holds {n} entities, mean {mean:.0}: {sizes:?}"
            );
        }
        for (i, e) in city.entities().iter().enumerate() {
            assert_eq!(map.of_entity(i), Some(shard_of(&e.id.to_string(), 16)));
        }
    }
}
