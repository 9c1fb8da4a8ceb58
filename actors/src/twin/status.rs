//! What `twin status` reports: a running twin writes `status.json` into its data folder every
//! second (sled locks the store against other processes); a reader takes that file while the
//! writer's process lives, and the store otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use twin_core::CityModel;

use super::restore::RestoreReport;
use crate::shared::CounterValues;
use crate::store::{Store, StoreError, StoreStatus};

/// What `twin status` reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TwinStatus {
    pub city: String,
    pub entities: usize,
    pub running: bool,
    pub pid: u32,
    pub started_at: String,
    pub updated_at: String,
    pub readings_logged: u64,
    pub last_snapshot: Option<crate::store::SnapshotInfo>,
    pub rejected: BTreeMap<String, u64>,
    pub restored: Option<RestoreReport>,
    pub counters: Option<CounterValues>,
    pub alerts: usize,
    /// Citizen reports kept, and how many are open.
    #[serde(default)]
    pub reports: usize,
    #[serde(default)]
    pub reports_open: usize,
    pub store_bytes: u64,
    /// Why the twin is degraded (`part: reason`), empty when all is well: a full disk,
    /// a store error, a network model that panicked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// The node's part in a cluster (absent for a twin on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// A node's part in its cluster, in `twin status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node: String,
    pub url: String,
    pub shards: u32,
    /// Shards this node holds the lease of.
    pub owned: Vec<u32>,
    /// Nodes with a live heartbeat, this one included.
    pub live_nodes: usize,
    /// Per owned shard, the last stream sequence applied.
    pub applied: BTreeMap<u32, u64>,
    /// Per owned shard, the stream sequence its newest snapshot covers.
    pub snapshotted: BTreeMap<u32, u64>,
    /// Shards adopted, handed over and lost (lease taken by another node) since the start.
    pub adopted: u64,
    /// Of the shards adopted, those that started from a snapshot (the others replayed their
    /// whole stream).
    pub adopted_from_snapshot: u64,
    pub handed_over: u64,
    pub lost: u64,
    /// Shard snapshots written to the object store.
    pub snapshots: u64,
    /// Deltas published for owned entities, and received for the others.
    pub deltas_out: u64,
    pub deltas_in: u64,
    /// Times a shard's view was taken afresh from its owner after a gap in its deltas.
    #[serde(default)]
    pub resyncs: u64,
}

pub(super) fn apply_store_status(s: &mut TwinStatus, store: StoreStatus) {
    s.readings_logged = store.readings_logged;
    s.last_snapshot = store.last_snapshot;
    s.rejected = store.rejected;
    s.store_bytes = store.size_bytes;
}

/// Whether the process that wrote a status file is still alive (Linux: /proc/<pid>).
fn process_alive(pid: u32) -> bool {
    pid != 0 && pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
}

/// Where a running twin publishes its status (sled locks the store against other processes).
pub fn status_file(data_dir: &Path) -> PathBuf {
    data_dir.join("status.json")
}

pub(super) fn write_status_file(data_dir: &Path, s: &TwinStatus) -> std::io::Result<()> {
    let tmp = data_dir.join("status.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
    std::fs::rename(tmp, status_file(data_dir))
}

/// Status of the twin whose data folder is `data_dir`, running or not: from the store when no
/// process holds it, else from the status the running twin publishes.
pub fn read_status(data_dir: &Path, city: Option<&CityModel>) -> Result<TwinStatus, String> {
    // A running twin holds the store: read what it publishes, without touching the store.
    let last = read_status_file(data_dir);
    if let Some(s) = &last
        && s.running
        && process_alive(s.pid)
    {
        return Ok(s.clone());
    }
    match Store::open(&data_dir.join("store")) {
        Ok(store) => {
            let st = store.status().map_err(|e| e.to_string())?;
            // The city: the one given, else the one the twin last said it ran (a twin killed
            // before its first snapshot has no other trace of it).
            let mut s = TwinStatus {
                city: city
                    .map(|c| c.meta.name.clone())
                    .or_else(|| last.as_ref().map(|l| l.city.clone()))
                    .unwrap_or_default(),
                entities: st
                    .last_snapshot
                    .as_ref()
                    .map(|l| l.entities)
                    .or(city.map(|c| c.entities().len()))
                    .or(last.as_ref().map(|l| l.entities))
                    .unwrap_or(0),
                running: false,
                ..TwinStatus::default()
            };
            apply_store_status(&mut s, st);
            Ok(s)
        }
        Err(StoreError::Locked(_)) => last.ok_or_else(|| {
            format!(
                "{}: the store is in use by another process, and no status file can be read",
                data_dir.display()
            )
        }),
        Err(e) => Err(e.to_string()),
    }
}

fn read_status_file(data_dir: &Path) -> Option<TwinStatus> {
    let text = std::fs::read_to_string(status_file(data_dir)).ok()?;
    serde_json::from_str(&text).ok()
}
