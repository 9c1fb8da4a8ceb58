//! The feed hub: the latest published state of every entity, a journal of which entity changed
//! at which version, the current KPIs and alerts. One task pumps the twin's feed into it; every
//! WebSocket client reads from it.
//!
//! Why a journal of versions and not a queue per client: a client only keeps a cursor (the last
//! version it was sent). When it is due, it is sent the entities changed after its cursor, each
//! with its fields changed after the cursor, at their latest values. A slow client therefore
//! coalesces for free (latest value per entity wins) and costs no memory while it waits; a
//! client whose cursor has fallen out of the bounded journal gets a fresh snapshot instead.
//! Bodies are cached by (filter, from, to), so clients with the same subscription share the
//! serialisation work.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value as Json;
use tokio::sync::{broadcast, watch};
use twin_actors::LiveTwin;
use twin_actors::network::{Alert, Estimates, NetworkKind};
use twin_actors::shared::FeedEvent;
use twin_core::geometry::BBox;
use twin_core::kpi::{CityKpis, PublishedState, city_kpis};
use twin_core::live::{Delta, rfc3339};
use twin_core::{CityModel, EntityKind};

/// Which entities a subscription covers: a set of entity layers and an optional bounding box
/// (tested against each entity's representative point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    /// Bit `k` set: entities of `EntityKind::ALL[k]`.
    pub layers: u8,
    pub bbox: Option<BBox>,
}

impl Filter {
    pub fn all() -> Filter {
        Filter {
            layers: (1 << EntityKind::ALL.len()) - 1,
            bbox: None,
        }
    }

    pub fn bit(kind: EntityKind) -> u8 {
        let k = EntityKind::ALL
            .iter()
            .position(|&x| x == kind)
            .unwrap_or_default();
        1 << k
    }

    fn key(&self) -> (u8, Option<[u64; 4]>) {
        let bbox = self.bbox.map(|b| {
            [
                b.min_lon.to_bits(),
                b.min_lat.to_bits(),
                b.max_lon.to_bits(),
                b.max_lat.to_bits(),
            ]
        });
        (self.layers, bbox)
    }
}

/// One published field of an entity: name, value, the version that last changed it, and
/// whether that value is a network model's estimate (else it came with a reading).
#[derive(Debug, Clone)]
struct FieldSlot {
    name: Arc<str>,
    value: Json,
    version: u64,
    estimated: bool,
}

impl PublishedState for EntityView {
    fn number(&self, field: &str) -> Option<f64> {
        self.value(field).and_then(Json::as_f64)
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.value(field).and_then(Json::as_str)
    }

    fn flag(&self, field: &str) -> Option<bool> {
        self.value(field).and_then(Json::as_bool)
    }
}

#[derive(Debug, Clone, Default)]
struct EntityView {
    fields: Vec<FieldSlot>,
}

impl EntityView {
    /// Set a field from a reading or (`estimated`) a model; true when its value changed. An
    /// unchanged value keeps where it came from (a model repeating a measured value does not
    /// make it an estimate).
    fn set(&mut self, name: &Arc<str>, value: Json, version: u64, estimated: bool) -> bool {
        match self.fields.iter_mut().find(|f| *f.name == **name) {
            // The same value from a reading confirms it as measured; a model repeating a
            // measured value leaves it measured.
            Some(f) if f.value == value => {
                if !estimated {
                    f.estimated = false;
                }
                false
            }
            Some(f) => {
                f.value = value;
                f.version = version;
                f.estimated = estimated;
                true
            }
            None => {
                self.fields.push(FieldSlot {
                    name: name.clone(),
                    value,
                    version,
                    estimated,
                });
                true
            }
        }
    }

    fn value(&self, name: &str) -> Option<&Json> {
        self.fields
            .iter()
            .find(|f| &*f.name == name)
            .map(|f| &f.value)
    }

    /// Write `{"field":value,...}` for the fields changed after `after` (all for 0).
    fn write_json(&self, out: &mut String, after: u64) {
        out.push('{');
        let mut first = true;
        for f in self.fields.iter().filter(|f| f.version > after) {
            if !first {
                out.push(',');
            }
            first = false;
            write_json_string(out, &f.name);
            out.push(':');
            // Writing JSON into a String cannot fail.
            let _ = write!(out, "{}", f.value);
        }
        out.push('}');
    }
}

fn write_json_string(out: &mut String, s: &str) {
    let _ = write!(out, "{}", Json::from(s));
}

/// A current alert as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub network: NetworkKind,
    pub code: &'static str,
    pub entities: Vec<String>,
    pub message: String,
    /// When the hub first saw this alert (code and entities) raised.
    pub since: String,
}

/// Key figures of the city right now, recomputed every second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Kpis {
    /// The newest observation time seen (the simulated clock when accelerated).
    pub twin_time: Option<String>,
    pub updated_at: String,
    pub readings_per_s: f64,
    pub deltas_per_s: f64,
    pub clients: usize,
    pub entities: usize,
    /// The city's key figures (`twin_core::kpi`), as fields of this object.
    #[serde(flatten)]
    pub city: CityKpis,
    pub alerts: usize,
    /// Citizen reports not yet resolved, and their median hours to resolve so far.
    pub reports_open: usize,
    pub report_median_hours_to_resolve: Option<f64>,
}

/// What a client cursor gets next.
pub enum Next {
    /// Nothing changed after the cursor.
    Nothing,
    /// The cursor fell out of the journal, or the changes after it would make a message larger
    /// than a snapshot part: send a snapshot.
    Behind,
    /// Changes after the cursor, up to `to`: `entities` of them pass the filter, `body` is the
    /// JSON object of id → changed fields (empty when none passes).
    Changes {
        body: Arc<str>,
        entities: usize,
        to: u64,
    },
}

/// A snapshot: the JSON objects of id → full state, in parts of about
/// [`SNAPSHOT_PART_BYTES`] so that no client ever holds a whole city in one message, and the
/// version it reflects.
pub struct SnapshotBody {
    /// (JSON object of some entities, how many)
    pub parts: Arc<Vec<(Arc<str>, usize)>>,
    pub entities: usize,
    pub version: u64,
}

/// Size of a snapshot part; a client's buffers stay near this whatever the city's size.
pub const SNAPSHOT_PART_BYTES: usize = 256 * 1024;

struct FeedState {
    views: Vec<EntityView>,
    /// `journal[k]` is the entity changed at version `journal_start + k`.
    journal: VecDeque<u32>,
    journal_start: u64,
    version: u64,
    twin_time_ms: Option<i64>,
    deltas: u64,
    names: HashMap<String, Arc<str>>,
    alerts: Vec<AlertView>,
    alerts_by_network: HashMap<NetworkKind, Vec<Alert>>,
}

impl FeedState {
    fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(name.to_string(), n.clone());
        n
    }

    /// Apply changed fields to one entity; bumps the version and journals it if anything changed.
    fn apply(
        &mut self,
        entity: usize,
        fields: impl IntoIterator<Item = (Arc<str>, Json)>,
        estimated: bool,
    ) {
        let next = self.version + 1;
        let Some(view) = self.views.get_mut(entity) else {
            return;
        };
        let mut changed = false;
        for (name, value) in fields {
            changed |= view.set(&name, value, next, estimated);
        }
        if changed {
            self.version = next;
            self.journal.push_back(entity as u32);
        }
    }

    fn trim(&mut self, cap: usize) {
        while self.journal.len() > cap {
            self.journal.pop_front();
            self.journal_start += 1;
        }
    }
}

/// Settings of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Versions kept in the journal; a client further behind gets a fresh snapshot.
    pub journal_len: usize,
    pub kpi_every: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            journal_len: 1 << 18,
            kpi_every: Duration::from_secs(1),
        }
    }
}

type BodyKey = ((u8, Option<[u64; 4]>), u64, u64);
type SnapshotKey = ((u8, Option<[u64; 4]>), u64);

/// The shared view of the live twin that the API and the WebSocket feed read.
pub struct FeedHub {
    pub city: Arc<CityModel>,
    pub twin: LiveTwin,
    index_of: HashMap<String, u32>,
    state: RwLock<FeedState>,
    config: HubConfig,
    version_tx: watch::Sender<u64>,
    kpis_tx: watch::Sender<Arc<Kpis>>,
    alerts_tx: watch::Sender<Arc<Vec<AlertView>>>,
    /// Scenario runs forked from the twin, as their JSON views.
    scenarios_tx: watch::Sender<Arc<Vec<serde_json::Value>>>,
    cache: Mutex<HashMap<BodyKey, (Arc<str>, usize)>>,
    snapshots: Mutex<HashMap<SnapshotKey, Arc<Vec<(Arc<str>, usize)>>>>,
    /// Connected WebSocket clients (kept by the server, shown in the KPIs).
    pub clients: std::sync::atomic::AtomicUsize,
}

const CACHE_ENTRIES: usize = 512;

impl FeedHub {
    /// Build the hub from the twin's current state and start pumping its feed. Must run inside
    /// a tokio runtime.
    pub async fn start(twin: LiveTwin, config: HubConfig) -> Result<Arc<FeedHub>, String> {
        // Subscribe before reading the states: a delta raced by the read is applied again after
        // it, which is harmless (deltas carry values, not increments, in order per entity).
        let events = twin.shared.feed.subscribe();
        let city = twin.shared.city.clone();
        let index_of = city
            .entities()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.to_string(), i as u32))
            .collect();
        let state = FeedState {
            views: vec![EntityView::default(); city.entities().len()],
            journal: VecDeque::new(),
            journal_start: 1,
            version: 0,
            twin_time_ms: None,
            deltas: 0,
            names: HashMap::new(),
            alerts: Vec::new(),
            alerts_by_network: HashMap::new(),
        };
        let (version_tx, _) = watch::channel(0);
        let (kpis_tx, _) = watch::channel(Arc::new(Kpis::default()));
        let (alerts_tx, _) = watch::channel(Arc::new(Vec::new()));
        let (scenarios_tx, _) = watch::channel(Arc::new(Vec::new()));
        let hub = Arc::new(FeedHub {
            city,
            twin,
            index_of,
            state: RwLock::new(state),
            config,
            version_tx,
            kpis_tx,
            alerts_tx,
            scenarios_tx,
            cache: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            clients: std::sync::atomic::AtomicUsize::new(0),
        });
        hub.reload().await?;
        tokio::spawn(pump(hub.clone(), events));
        tokio::spawn(kpi_loop(hub.clone()));
        Ok(hub)
    }

    fn read(&self) -> RwLockReadGuard<'_, FeedState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, FeedState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Read every entity's state from its actor and every network's latest estimates; every
    /// client is sent a fresh snapshot afterwards.
    async fn reload(&self) -> Result<(), String> {
        let states = self.twin.states().await?;
        let networks: Vec<_> = NetworkKind::ALL
            .iter()
            .filter_map(|&k| self.twin.shared.networks.latest(k).map(|l| (k, l)))
            .collect();
        let mut st = self.write();
        st.version += 1;
        let v = st.version;
        for view in st.views.iter_mut() {
            view.fields.clear();
        }
        for (i, live) in states.iter().enumerate() {
            let fields: Vec<(Arc<str>, Json)> = live
                .to_json()
                .into_iter()
                .map(|(n, v)| (st.name(&n), v))
                .collect();
            let view = &mut st.views[i];
            for (n, value) in fields {
                view.set(&n, value, v, false);
            }
            if let Some(t) = live.observed_ms() {
                st.twin_time_ms = Some(st.twin_time_ms.map_or(t, |m| m.max(t)));
            }
        }
        // Every cursor is now behind the journal: clients re-snapshot.
        st.journal.clear();
        st.journal_start = v + 1;
        for (kind, (estimates, alerts)) in networks {
            apply_estimates(&mut st, &self.index_of, &estimates);
            set_alerts(&mut st, kind, &alerts);
        }
        let version = st.version;
        let alerts = Arc::new(st.alerts.clone());
        drop(st);
        self.version_tx.send_replace(version);
        self.alerts_tx.send_replace(alerts);
        Ok(())
    }

    fn apply_event(&self, st: &mut FeedState, event: FeedEvent) -> bool {
        match event {
            FeedEvent::Delta { entity, delta } => {
                apply_delta(st, entity, &delta);
                false
            }
            FeedEvent::Estimates { estimates, .. } => {
                apply_estimates(st, &self.index_of, &estimates);
                false
            }
            FeedEvent::Alerts { network, alerts } => {
                set_alerts(st, network, &alerts);
                true
            }
        }
    }

    /// Watch the current version (changes whenever an entity's published state changes).
    pub fn version(&self) -> watch::Receiver<u64> {
        self.version_tx.subscribe()
    }

    pub fn kpis(&self) -> watch::Receiver<Arc<Kpis>> {
        self.kpis_tx.subscribe()
    }

    pub fn scenarios(&self) -> watch::Receiver<Arc<Vec<serde_json::Value>>> {
        self.scenarios_tx.subscribe()
    }

    /// Publish the scenario runs' views to subscribed clients.
    pub fn publish_scenarios(&self, jobs: Vec<serde_json::Value>) {
        self.scenarios_tx.send_replace(Arc::new(jobs));
    }

    pub fn alerts(&self) -> watch::Receiver<Arc<Vec<AlertView>>> {
        self.alerts_tx.subscribe()
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index_of.get(id).map(|&i| i as usize)
    }

    fn passes(&self, filter: &Filter, i: usize) -> bool {
        let e = &self.city.entities()[i];
        filter.layers & Filter::bit(e.id.kind()) != 0
            && filter.bbox.is_none_or(|b| b.contains(e.location))
    }

    /// The full state of every entity passing the filter, as JSON objects of id → state.
    pub fn snapshot(&self, filter: &Filter) -> SnapshotBody {
        let st = self.read();
        let version = st.version;
        let key = (filter.key(), version);
        let mut cache = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        let parts = match cache.get(&key) {
            Some(p) => p.clone(),
            None => {
                let mut parts = Vec::new();
                let mut out = String::with_capacity(SNAPSHOT_PART_BYTES + 4096);
                let mut count = 0;
                out.push('{');
                for (i, view) in st.views.iter().enumerate() {
                    if !self.passes(filter, i) {
                        continue;
                    }
                    if count > 0 {
                        out.push(',');
                    }
                    count += 1;
                    write_json_string(&mut out, &self.city.entities()[i].id.to_string());
                    out.push(':');
                    view.write_json(&mut out, 0);
                    if out.len() >= SNAPSHOT_PART_BYTES {
                        out.push('}');
                        parts.push((Arc::<str>::from(std::mem::take(&mut out)), count));
                        out.push('{');
                        count = 0;
                    }
                }
                if count > 0 || parts.is_empty() {
                    out.push('}');
                    parts.push((Arc::<str>::from(out), count));
                }
                let parts = Arc::new(parts);
                if cache.len() >= 16 {
                    cache.clear();
                }
                cache.insert(key, parts.clone());
                parts
            }
        };
        SnapshotBody {
            entities: parts.iter().map(|(_, n)| n).sum(),
            parts,
            version,
        }
    }

    /// What changed after version `from` for this filter.
    pub fn changes_after(&self, filter: &Filter, from: u64) -> Next {
        let st = self.read();
        let to = st.version;
        if from >= to {
            return Next::Nothing;
        }
        if from + 1 < st.journal_start {
            return Next::Behind;
        }
        let start = (from + 1 - st.journal_start) as usize;
        let mut changed: Vec<u32> = st.journal.range(start..).copied().collect();
        changed.sort_unstable();
        changed.dedup();
        changed.retain(|&i| self.passes(filter, i as usize));
        let (body, entities) = self.cached((filter.key(), from, to), || {
            let mut out = String::with_capacity(changed.len() * 64 + 2);
            out.push('{');
            for (k, &i) in changed.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_json_string(&mut out, &self.city.entities()[i as usize].id.to_string());
                out.push(':');
                st.views[i as usize].write_json(&mut out, from);
            }
            out.push('}');
            (out, changed.len())
        });
        // A client so far behind that its delta outgrows a snapshot part gets the snapshot (in
        // parts) instead: no message a client is sent is larger than about one part.
        if body.len() > SNAPSHOT_PART_BYTES {
            return Next::Behind;
        }
        Next::Changes { body, entities, to }
    }

    /// The entities changed after version `from`, each with the names of its fields that
    /// changed, and the version this reaches; None when `from` fell out of the journal (the
    /// changes in between are lost to this reader).
    pub fn changed_after(&self, from: u64) -> Option<(Vec<(usize, Vec<Arc<str>>)>, u64)> {
        let st = self.read();
        let to = st.version;
        if from >= to {
            return Some((Vec::new(), to));
        }
        if from + 1 < st.journal_start {
            return None;
        }
        let start = (from + 1 - st.journal_start) as usize;
        let mut changed: Vec<u32> = st.journal.range(start..).copied().collect();
        changed.sort_unstable();
        changed.dedup();
        let entities = changed
            .into_iter()
            .map(|i| {
                let fields = st.views[i as usize]
                    .fields
                    .iter()
                    .filter(|f| f.version > from)
                    .map(|f| f.name.clone())
                    .collect();
                (i as usize, fields)
            })
            .collect();
        Some((entities, to))
    }

    fn cached(&self, key: BodyKey, build: impl FnOnce() -> (String, usize)) -> (Arc<str>, usize) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = cache.get(&key) {
            return b.clone();
        }
        let (body, n) = build();
        let entry = (Arc::<str>::from(body), n);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, entry.clone());
        entry
    }

    /// The published state of one entity as a JSON object.
    pub fn entity_state(&self, index: usize) -> Option<serde_json::Map<String, Json>> {
        let st = self.read();
        let view = st.views.get(index)?;
        Some(
            view.fields
                .iter()
                .map(|f| (f.name.to_string(), f.value.clone()))
                .collect(),
        )
    }

    /// The fields of entity `index`'s published state whose values are network models'
    /// estimates (the others came with readings).
    pub fn estimated_fields(&self, index: usize) -> Vec<String> {
        let st = self.read();
        st.views.get(index).map_or_else(Vec::new, |view| {
            view.fields
                .iter()
                .filter(|f| f.estimated)
                .map(|f| f.name.to_string())
                .collect()
        })
    }

    /// Number fields of entities' published state, for each index in order. The published
    /// state is current for every entity of the city, also on a node of a cluster (where the
    /// actors of other nodes' shards are not: their deltas reach the feed, not the actors).
    pub fn published_numbers(&self, indices: &[usize], fields: &[&str]) -> Vec<Vec<Option<f64>>> {
        let st = self.read();
        indices
            .iter()
            .map(|&i| {
                let view = st.views.get(i);
                fields
                    .iter()
                    .map(|name| {
                        view?
                            .fields
                            .iter()
                            .find(|f| &*f.name == *name)
                            .and_then(|f| f.value.as_f64())
                    })
                    .collect()
            })
            .collect()
    }

    /// The indices of the entities passing the filter, in city order, at most `limit`.
    pub fn matching(&self, filter: &Filter, limit: usize) -> Vec<usize> {
        (0..self.city.entities().len())
            .filter(|&i| self.passes(filter, i))
            .take(limit)
            .collect()
    }

    /// The published states of some entities (field name → value), in the order given; an
    /// index out of range gives an empty state.
    pub fn states_of(&self, indices: &[usize]) -> Vec<serde_json::Map<String, Json>> {
        let st = self.read();
        indices
            .iter()
            .map(|&i| {
                st.views.get(i).map_or_else(Default::default, |v| {
                    v.fields
                        .iter()
                        .map(|f| (f.name.to_string(), f.value.clone()))
                        .collect()
                })
            })
            .collect()
    }

    pub fn current_version(&self) -> u64 {
        self.read().version
    }

    fn compute_kpis(&self, readings_per_s: f64, deltas_per_s: f64) -> Kpis {
        let st = self.read();
        let mut k = Kpis {
            twin_time: st.twin_time_ms.map(rfc3339),
            updated_at: rfc3339(chrono::Utc::now().timestamp_millis()),
            readings_per_s,
            deltas_per_s,
            clients: self.clients.load(std::sync::atomic::Ordering::Relaxed),
            entities: st.views.len(),
            alerts: st.alerts.len(),
            ..Kpis::default()
        };
        let reports = self.twin.shared.reports().kpis();
        k.reports_open = reports.open;
        k.report_median_hours_to_resolve = reports.median_hours_to_resolve;
        k.city = city_kpis(self.city.entities(), &st.views);
        k
    }

    /// The KPIs as last computed.
    pub fn current_kpis(&self) -> Arc<Kpis> {
        self.kpis_tx.borrow().clone()
    }

    pub fn current_alerts(&self) -> Arc<Vec<AlertView>> {
        self.alerts_tx.borrow().clone()
    }
}

fn apply_delta(st: &mut FeedState, entity: usize, delta: &Delta) {
    let mut fields: Vec<(Arc<str>, Json)> = delta
        .changes
        .iter()
        .map(|(f, v)| (st.name(&f.name()), v.to_json()))
        .collect();
    // A removed field is published as null (JSON merge patch, RFC 7396).
    fields.extend(
        delta
            .removed
            .iter()
            .map(|f| (st.name(&f.name()), Json::Null)),
    );
    fields.push((st.name("observedAt"), rfc3339(delta.observed_ms).into()));
    st.twin_time_ms = Some(
        st.twin_time_ms
            .map_or(delta.observed_ms, |m| m.max(delta.observed_ms)),
    );
    st.deltas += 1;
    st.apply(entity, fields, false);
}

fn apply_estimates(st: &mut FeedState, index_of: &HashMap<String, u32>, estimates: &Estimates) {
    // Consecutive values of one entity are applied together (one version per entity).
    let mut k = 0;
    let values = &estimates.values;
    while k < values.len() {
        let id = &values[k].0;
        let mut fields = Vec::new();
        while k < values.len() && values[k].0 == *id {
            let (_, name, v) = &values[k];
            // Round model output so that numerical noise is not published as change.
            let rounded = (v * 1e4).round() / 1e4;
            if let Some(n) = serde_json::Number::from_f64(rounded) {
                fields.push((st.name(name), Json::Number(n)));
            }
            k += 1;
        }
        if let Some(&i) = index_of.get(id) {
            st.apply(i as usize, fields, true);
        }
    }
}

fn set_alerts(st: &mut FeedState, network: NetworkKind, alerts: &[Alert]) {
    st.alerts_by_network.insert(network, alerts.to_vec());
    let now = rfc3339(chrono::Utc::now().timestamp_millis());
    let previous = std::mem::take(&mut st.alerts);
    let mut current = Vec::new();
    for kind in NetworkKind::ALL {
        for a in st.alerts_by_network.get(&kind).into_iter().flatten() {
            let since = previous
                .iter()
                .find(|p| p.code == a.code && p.entities == a.entities)
                .map_or_else(|| now.clone(), |p| p.since.clone());
            current.push(AlertView {
                network: kind,
                code: a.code,
                entities: a.entities.clone(),
                message: a.message.clone(),
                since,
            });
        }
    }
    st.alerts = current;
}

/// Move the twin's feed into the hub, in batches under one lock.
async fn pump(hub: Arc<FeedHub>, mut events: broadcast::Receiver<FeedEvent>) {
    loop {
        let first = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    lost = n,
                    "feed hub fell behind the twin; reloading all state"
                );
                if let Err(e) = hub.reload().await {
                    tracing::error!(error = %e, "feed hub reload failed");
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let (version, alerts) = {
            let mut st = hub.write();
            let mut alerts_changed = hub.apply_event(&mut st, first);
            for _ in 0..4096 {
                match events.try_recv() {
                    Ok(e) => alerts_changed |= hub.apply_event(&mut st, e),
                    Err(_) => break,
                }
            }
            st.trim(hub.config.journal_len);
            (
                st.version,
                alerts_changed.then(|| Arc::new(st.alerts.clone())),
            )
        };
        hub.version_tx.send_if_modified(|v| {
            let changed = *v != version;
            *v = version;
            changed
        });
        if let Some(a) = alerts {
            hub.alerts_tx.send_if_modified(|old| {
                let changed = **old != *a;
                *old = a;
                changed
            });
        }
    }
}

async fn kpi_loop(hub: Arc<FeedHub>) {
    let mut tick = tokio::time::interval(hub.config.kpi_every);
    let mut last: Option<(Instant, u64, u64)> = None;
    loop {
        tick.tick().await;
        let applied = hub.twin.shared.counters.values().applied;
        let deltas = hub.read().deltas;
        let now = Instant::now();
        let (rps, dps) = match last {
            Some((t, a, d)) => {
                let s = now.duration_since(t).as_secs_f64().max(1e-3);
                (
                    (applied.saturating_sub(a)) as f64 / s,
                    (deltas.saturating_sub(d)) as f64 / s,
                )
            }
            None => (0.0, 0.0),
        };
        last = Some((now, applied, deltas));
        let kpis = Arc::new(hub.compute_kpis(rps, dps));
        hub.kpis_tx.send_replace(kpis);
    }
}
