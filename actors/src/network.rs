//! Network actors: one per network (power, water, road) plus the waste watch. Entity actors
//! inject what a network needs (post loads, charger power, junction demands, street congestion,
//! bin levels) into [`Injections`], latest value per element, without a message per change; each
//! network actor wakes on a timer, and re-solves when something changed and its minimum period
//! has passed (debounce with a maximum rate). It publishes estimates for every element, measured
//! or not, and alerts, on the feed and in [`Injections::latest`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};
use serde::Serialize;
use twin_core::entity::{Asset, Entity};
use twin_core::live::{Delta, Field};
use twin_core::{CityModel, EntityId, Quantity};

use crate::shared::{FeedEvent, Shared};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    Power,
    Water,
    Road,
    Waste,
}

impl NetworkKind {
    pub const ALL: [NetworkKind; 4] = [
        NetworkKind::Power,
        NetworkKind::Water,
        NetworkKind::Road,
        NetworkKind::Waste,
    ];
}

/// Model estimates for the elements of one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Estimates {
    pub solved_at: String,
    /// (entity id, field name, value) for every element the model covers.
    pub values: Vec<(String, &'static str, f64)>,
}

/// A condition someone should look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// A stable code: `overloaded`, `voltage_out_of_band`, `de_energised`, `low_pressure`,
    /// `congested_corridor`, `bin_overflowing`, `bin_full_soon`, `citizen_report`.
    pub code: &'static str,
    pub entities: Vec<String>,
    pub message: String,
}

#[derive(Debug, Default)]
struct Pending<T> {
    values: HashMap<usize, T>,
    changes: usize,
}

/// Latest injected values per network, written by entity actors, read by network actors.
#[derive(Debug, Default)]
pub struct Injections {
    /// Transformer post → measured (kW, kvar).
    power: Mutex<Pending<(Option<f64>, Option<f64>)>>,
    /// Charger → charging power kW.
    chargers: Mutex<HashMap<usize, f64>>,
    /// Junction → measured demand l/s.
    water: Mutex<Pending<f64>>,
    /// Street → congestion level 0–1.
    road: Mutex<Pending<f64>>,
    /// Bin → (filling level, hours to full).
    waste: Mutex<Pending<(f64, Option<f64>)>>,
    /// One alert per open citizen report, published by the waste watch.
    reports: Mutex<Vec<Alert>>,
    latest: Mutex<HashMap<NetworkKind, (Arc<Estimates>, Arc<Vec<Alert>>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the maps inconsistent (single
    // inserts), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Injections {
    /// Record what a delta of `entity` (at `index`) means for the networks.
    pub fn inject(&self, index: usize, entity: &Entity, delta: &Delta) {
        let number = |f: Field| {
            delta
                .changes
                .iter()
                .find(|(g, _)| *g == f)
                .and_then(|(_, v)| v.as_f64())
        };
        match &entity.asset {
            Asset::TransformerPost(_) | Asset::Substation(_) => {
                let p = number(Field::Measured(Quantity::ActivePower));
                let q = number(Field::Measured(Quantity::ReactivePower));
                if p.is_some() || q.is_some() {
                    let mut g = lock(&self.power);
                    let e = g.values.entry(index).or_default();
                    e.0 = p.or(e.0);
                    e.1 = q.or(e.1);
                    g.changes += 1;
                }
            }
            Asset::EvCharger(_) => {
                if let Some(kw) = number(Field::ChargingPower) {
                    lock(&self.chargers).insert(index, kw);
                    lock(&self.power).changes += 1;
                }
            }
            Asset::Junction(_) => {
                if let Some(d) = number(Field::Measured(Quantity::Demand)) {
                    let mut g = lock(&self.water);
                    g.values.insert(index, d);
                    g.changes += 1;
                }
            }
            Asset::StreetSegment(_) => {
                if let Some(c) = number(Field::CongestionLevel) {
                    let mut g = lock(&self.road);
                    g.values.insert(index, c);
                    g.changes += 1;
                }
            }
            Asset::WasteBin(_) => {
                let level = number(Field::Measured(Quantity::FillingLevel));
                let to_full = number(Field::HoursToFull);
                if level.is_some() || to_full.is_some() {
                    let mut g = lock(&self.waste);
                    let e = g.values.entry(index).or_insert((0.0, None));
                    e.0 = level.unwrap_or(e.0);
                    e.1 = to_full.or(e.1);
                    g.changes += 1;
                }
            }
            _ => {}
        }
    }

    /// Replace the citizen-report alerts (the waste watch publishes them on its next tick).
    pub fn set_report_alerts(&self, alerts: Vec<Alert>) {
        *lock(&self.reports) = alerts;
        lock(&self.waste).changes += 1;
    }

    /// The newest estimates and alerts of a network, if it has solved.
    pub fn latest(&self, network: NetworkKind) -> Option<(Arc<Estimates>, Arc<Vec<Alert>>)> {
        lock(&self.latest).get(&network).cloned()
    }

    /// Every current alert, all networks.
    pub fn alerts(&self) -> Vec<Alert> {
        let g = lock(&self.latest);
        NetworkKind::ALL
            .iter()
            .filter_map(|k| g.get(k))
            .flat_map(|(_, a)| a.iter().cloned())
            .collect()
    }
}

/// How often a network actor looks for changes, and the least time between two solves.
#[derive(Debug, Clone, Copy)]
pub struct SolvePolicy {
    pub poll: Duration,
    pub min_period: Duration,
}

impl Default for SolvePolicy {
    fn default() -> Self {
        SolvePolicy {
            poll: Duration::from_millis(500),
            min_period: Duration::from_secs(2),
        }
    }
}

pub struct NetworkActor {
    kind: NetworkKind,
    shared: Arc<Shared>,
    policy: SolvePolicy,
    last_solve: Option<Instant>,
}

impl NetworkActor {
    pub fn new(kind: NetworkKind, shared: Arc<Shared>, policy: SolvePolicy) -> NetworkActor {
        NetworkActor {
            kind,
            shared,
            policy,
            last_solve: None,
        }
    }

    fn tick(&mut self) {
        if self
            .last_solve
            .is_some_and(|t| t.elapsed() < self.policy.min_period)
        {
            return;
        }
        let inj = &self.shared.networks;
        let changed = match self.kind {
            NetworkKind::Power => std::mem::take(&mut lock(&inj.power).changes),
            NetworkKind::Water => std::mem::take(&mut lock(&inj.water).changes),
            NetworkKind::Road => std::mem::take(&mut lock(&inj.road).changes),
            NetworkKind::Waste => std::mem::take(&mut lock(&inj.waste).changes),
        };
        // The first solve runs at once, so every element has an estimate from the start.
        if changed == 0 && self.last_solve.is_some() {
            return;
        }
        self.last_solve = Some(Instant::now());
        let city = &self.shared.city;
        let started = Instant::now();
        let result = match self.kind {
            NetworkKind::Power => solve_power(city, inj),
            NetworkKind::Water => solve_water(city, inj),
            NetworkKind::Road => Ok(estimate_road(city, inj)),
            NetworkKind::Waste => Ok(watch_bins(city, inj)),
        };
        match result {
            Ok((values, alerts)) => {
                self.shared
                    .counters
                    .solves
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let estimates = Arc::new(Estimates {
                    solved_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    values,
                });
                let alerts = Arc::new(alerts);
                tracing::debug!(network = ?self.kind, changed, ms = started.elapsed().as_secs_f64() * 1e3,
                    alerts = alerts.len(), "network re-solved");
                lock(&inj.latest).insert(self.kind, (estimates.clone(), alerts.clone()));
                let _ = self.shared.feed.send(FeedEvent::Estimates {
                    network: self.kind,
                    estimates,
                });
                let _ = self.shared.feed.send(FeedEvent::Alerts {
                    network: self.kind,
                    alerts,
                });
            }
            Err(e) => tracing::warn!(network = ?self.kind, error = %e, "network solve failed"),
        }
    }
}

impl Actor for NetworkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.policy.poll, |actor, _| actor.tick());
    }
}

type Solved = (Vec<(String, &'static str, f64)>, Vec<Alert>);

/// Voltage band for alerts (EN 50160: ±10 % at LV; ±5 % kept as a planning band at MV).
const V_LOW: f64 = 0.95;
const V_HIGH: f64 = 1.05;

fn solve_power(city: &CityModel, inj: &Injections) -> Result<Solved, String> {
    let Some(case) = city.power_case.as_ref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut case = case.clone();
    let bus_row: HashMap<u32, usize> = case
        .bus
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id, i))
        .collect();
    let entities = city.entities();
    let bus_of = |e: &Entity| match &e.asset {
        Asset::TransformerPost(t) => Some(t.bus),
        Asset::Substation(s) => Some(s.bus),
        _ => None,
    };
    for (&index, &(p, q)) in &lock(&inj.power).values {
        let Some(row) = bus_of(&entities[index]).and_then(|b| bus_row.get(&b)) else {
            continue;
        };
        if let Some(p) = p {
            case.bus[*row].pd_mw = p / 1000.0;
        }
        if let Some(q) = q {
            case.bus[*row].qd_mvar = q / 1000.0;
        }
    }
    for (&index, &kw) in lock(&inj.chargers).iter() {
        let Asset::EvCharger(c) = &entities[index].asset else {
            continue;
        };
        let row = city
            .entity(&c.grid_connection)
            .and_then(bus_of)
            .and_then(|b| bus_row.get(&b));
        if let Some(row) = row {
            case.bus[*row].pd_mw += kw / 1000.0;
        }
    }
    let r = twin_core::power::solve_load_flow(&case, None, 1.0).map_err(|e| e.to_string())?;
    let mut values = Vec::new();
    let (mut low, mut dark, mut overloaded) = (Vec::new(), Vec::new(), Vec::new());
    for e in entities {
        let Some(row) = bus_of(e).and_then(|b| bus_row.get(&b)) else {
            continue;
        };
        let id = e.id.to_string();
        values.push((id.clone(), "voltage", r.vm_pu[*row]));
        values.push((
            id.clone(),
            "energised",
            f64::from(u8::from(r.energised[*row])),
        ));
        if !r.energised[*row] {
            dark.push(id);
        } else if !(V_LOW..=V_HIGH).contains(&r.vm_pu[*row]) {
            low.push(id);
        }
    }
    let branch_entity: HashMap<usize, usize> = city
        .power
        .graph
        .edge_weights()
        .filter_map(|w| Some((w.branch, w.entity?)))
        .collect();
    for (k, b) in r.branches.iter().enumerate() {
        if let (Some(pct), Some(&e)) = (b.loading_pct, branch_entity.get(&k)) {
            let id = entities[e].id.to_string();
            values.push((id.clone(), "loading", pct));
            if pct > 100.0 {
                overloaded.push(id);
            }
        }
    }
    let mut alerts = Vec::new();
    if !dark.is_empty() {
        alerts.push(Alert {
            code: "de_energised",
            message: format!("{} power nodes without supply", dark.len()),
            entities: dark,
        });
    }
    if !low.is_empty() {
        alerts.push(Alert {
            code: "voltage_out_of_band",
            message: format!("{} power nodes outside {V_LOW}–{V_HIGH} pu", low.len()),
            entities: low,
        });
    }
    if !overloaded.is_empty() {
        alerts.push(Alert {
            code: "overloaded",
            message: format!("{} lines above 100 % loading", overloaded.len()),
            entities: overloaded,
        });
    }
    Ok((values, alerts))
}

/// Pressure below which a junction is under-served (m), as planning practice.
pub const LOW_PRESSURE_M: f64 = 15.0;

fn solve_water(city: &CityModel, inj: &Injections) -> Result<Solved, String> {
    let Some(net) = city.water_network.as_ref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut net = net.clone();
    let to_units = 1e-3 / net.flow_units.to_m3s();
    let row: HashMap<&str, usize> = net
        .junctions
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    let measured: Vec<(usize, f64)> = lock(&inj.water)
        .values
        .iter()
        .filter_map(|(&index, &d)| {
            let local = city.entities()[index].id.local().to_string();
            row.get(local.as_str()).map(|&r| (r, d))
        })
        .collect();
    for (r, d) in measured {
        net.junctions[r].base_demand = d * to_units;
        net.junctions[r].pattern = None;
        net.demands.retain(|(j, _, _)| *j != net.junctions[r].id);
    }
    let snaps = twin_core::water::simulate(&net, Some(0)).map_err(|e| e.to_string())?;
    let Some(s) = snaps.first() else {
        return Err("the hydraulic solver returned no time step".into());
    };
    let mut values = Vec::new();
    let mut low = Vec::new();
    for (i, id) in net.node_ids().iter().enumerate() {
        let eid = format!("water:{id}");
        values.push((eid.clone(), "pressure", s.pressure_m[i]));
        values.push((eid.clone(), "head", s.head_m[i]));
        if i < net.junctions.len() && s.pressure_m[i] < LOW_PRESSURE_M {
            low.push(eid);
        }
    }
    for (k, id) in net.link_ids().iter().enumerate() {
        values.push((format!("water:{id}"), "flow", s.flow_m3s[k] * 1000.0));
    }
    let alerts = if low.is_empty() {
        Vec::new()
    } else {
        vec![Alert {
            code: "low_pressure",
            message: format!(
                "{} junctions below {LOW_PRESSURE_M} m of pressure",
                low.len()
            ),
            entities: low,
        }]
    };
    Ok((values, alerts))
}

/// Congestion level from which a street counts as congested, and the length of connected
/// congested street that makes a corridor alert.
const CONGESTED: f64 = 0.7;
const CORRIDOR_M: f64 = 400.0;

/// Road estimates: measured streets keep their level; an unmeasured street takes the mean of
/// its measured neighbours (sharing an intersection), else the mean of measured streets of its
/// road class, else 0. Alerts: connected congested streets longer than [`CORRIDOR_M`].
fn estimate_road(city: &CityModel, inj: &Injections) -> Solved {
    let measured = lock(&inj.road).values.clone();
    let entities = city.entities();
    let mut by_node: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut class_sum: HashMap<&'static str, (f64, usize)> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        if let Asset::StreetSegment(s) = &e.asset {
            by_node.entry(s.from_node).or_default().push(i);
            by_node.entry(s.to_node).or_default().push(i);
            if let Some(c) = measured.get(&i) {
                let entry = class_sum.entry(s.road_class.osm_name()).or_default();
                entry.0 += c;
                entry.1 += 1;
            }
        }
    }
    let mut level: HashMap<usize, f64> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        let Asset::StreetSegment(s) = &e.asset else {
            continue;
        };
        let value = measured.get(&i).copied().unwrap_or_else(|| {
            let near: Vec<f64> = [s.from_node, s.to_node]
                .iter()
                .flat_map(|n| by_node.get(n).into_iter().flatten())
                .filter_map(|j| measured.get(j))
                .copied()
                .collect();
            if near.is_empty() {
                class_sum
                    .get(s.road_class.osm_name())
                    .map_or(0.0, |(sum, n)| sum / *n as f64)
            } else {
                near.iter().sum::<f64>() / near.len() as f64
            }
        });
        level.insert(i, value);
    }
    let values = level
        .iter()
        .map(|(&i, &v)| (entities[i].id.to_string(), "congestionLevel", v))
        .collect();
    // Corridors: connected components of measured congested streets.
    let congested: HashSet<usize> = measured
        .iter()
        .filter(|(_, c)| **c >= CONGESTED)
        .map(|(i, _)| *i)
        .collect();
    let mut seen = HashSet::new();
    let mut alerts = Vec::new();
    for &start in &congested {
        if !seen.insert(start) {
            continue;
        }
        let mut stack = vec![start];
        let mut part = Vec::new();
        let mut length = 0.0;
        while let Some(i) = stack.pop() {
            let Asset::StreetSegment(s) = &entities[i].asset else {
                continue;
            };
            part.push(entities[i].id.to_string());
            length += s.length_m;
            for n in [s.from_node, s.to_node] {
                for &j in by_node.get(&n).into_iter().flatten() {
                    if congested.contains(&j) && seen.insert(j) {
                        stack.push(j);
                    }
                }
            }
        }
        if length >= CORRIDOR_M {
            part.sort();
            alerts.push(Alert {
                code: "congested_corridor",
                message: format!(
                    "{:.0} m of congested street ({} segments)",
                    length,
                    part.len()
                ),
                entities: part,
            });
        }
    }
    (values, alerts)
}

/// Bins: overflowing now (level ≥ 0.95) or predicted to within 12 hours; and the open citizen
/// reports.
fn watch_bins(city: &CityModel, inj: &Injections) -> Solved {
    let bins = lock(&inj.waste).values.clone();
    let mut values = Vec::new();
    let (mut full, mut soon) = (Vec::<EntityId>::new(), Vec::<EntityId>::new());
    for (&i, &(level, to_full)) in &bins {
        let id = &city.entities()[i].id;
        values.push((id.to_string(), "fillingLevel", level));
        if level >= twin_core::live::BIN_FULL_LEVEL {
            full.push(id.clone());
        } else if to_full.is_some_and(|h| h <= 12.0) {
            soon.push(id.clone());
        }
    }
    full.sort();
    soon.sort();
    let mut alerts = Vec::new();
    if !full.is_empty() {
        alerts.push(Alert {
            code: "bin_overflowing",
            message: format!("{} bins full or overflowing", full.len()),
            entities: full.iter().map(ToString::to_string).collect(),
        });
    }
    if !soon.is_empty() {
        alerts.push(Alert {
            code: "bin_full_soon",
            message: format!("{} bins predicted full within 12 h", soon.len()),
            entities: soon.iter().map(ToString::to_string).collect(),
        });
    }
    alerts.extend(lock(&inj.reports).iter().cloned());
    (values, alerts)
}
