//! The runner: the city's models advanced together on a simulated clock, once as the baseline
//! and once with the scenario's changes, on the same seed, and the differences.
//!
//! Each step (15 minutes by default):
//! - **traffic**: the street network's equilibrium at the hour's demand level (the daily curve
//!   rounded to one of five levels of the morning peak), with the closures and capacity changes
//!   active then; assignments are cached by (network state, level), so a day costs a handful;
//! - **power**: every post's load from its daily profile (× any demand change) plus the EV
//!   charging on it, failed elements out (and, after the switching time, tie switches closed as
//!   the restoration found), the 20 kV load flow; de-energised posts give customers
//!   interrupted, customer-minutes and energy not supplied; overloaded lines and posts are
//!   counted in hours;
//! - **water**: a broken pipe is isolated by its valves when it breaks (junctions without water,
//!   junctions below service pressure after the re-solve), counted in junction-hours while it
//!   lasts;
//! - **waste**: bins fill at their stream's rate, the calendar (or the scenario's days) empties
//!   them at 06:00, full bins are overflow events;
//! - **EV**: the EV model's sessions on the city's chargers and homes (`twin_core::ev`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDateTime, Timelike};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use twin_core::entity::{Asset, WasteKind};
use twin_core::ev::calibration::DemandFit;
use twin_core::ev::charging::Sharing;
use twin_core::ev::demand::{DemandModel, DemandSettings};
use twin_core::ev::study::ChargingNetwork;
use twin_core::ev::vehicles::{BusDuty, fleet_size};
use twin_core::power::outage::{RestorationLimits, analyse_power_outage, customers_served};
use twin_core::power::solve_load_flow;
use twin_core::profiles::{post_load, traffic_curve, water_curve};
use twin_core::traffic::assignment::{AssignmentOptions, assign};
use twin_core::traffic::city::{RoadChanges, build_city_traffic};
use twin_core::waste::fill::prior_rate_per_hour;
use twin_core::waste::policy::fixed_calendar_due;
use twin_core::{CityModel, EntityId};

use crate::file::{Change, Model, Scenario};

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("traffic: {0}")]
    Traffic(String),
    #[error("power: {0}")]
    Power(String),
    #[error("water: {0}")]
    Water(String),
    #[error("the EV model needs the charging sessions it is calibrated on: {0}")]
    Ev(String),
}

/// One run's results: KPIs by name, a time series per quantity, and per-street delay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    pub kpis: BTreeMap<String, f64>,
    /// Per step, by series name.
    pub series: BTreeMap<String, Vec<f64>>,
    /// Vehicle-minutes spent on each street segment (entity index) over the run.
    pub street_vehicle_minutes: HashMap<usize, f64>,
}

/// A street whose traffic changed most.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedStreet {
    pub id: String,
    pub name: Option<String>,
    pub baseline_vehicle_h: f64,
    pub scenario_vehicle_h: f64,
}

/// Baseline against scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub baseline: RunOutput,
    pub scenario: RunOutput,
    /// scenario − baseline, by KPI name.
    pub difference: BTreeMap<String, f64>,
    pub most_affected_streets: Vec<AffectedStreet>,
    /// Step start times.
    pub times: Vec<NaiveDateTime>,
    pub seconds: f64,
}

/// Demand levels of the traffic cache, as fractions of the morning peak hour.
const TRAFFIC_LEVELS: [f64; 5] = [0.125, 0.25, 0.5, 0.75, 1.0];
/// Below this pressure a supplied junction is deficient, m.
pub const SERVICE_PRESSURE_M: f64 = 15.0;

/// Traffic results per (network state, level), shared by the baseline and the scenario.
#[derive(Default)]
struct TrafficCache {
    results: HashMap<(String, usize), TrafficAt>,
}

struct TrafficAt {
    /// Vehicle-minutes and free-flow vehicle-minutes per hour of this level.
    vehicle_min: f64,
    free_flow_min: f64,
    /// (segment, vehicle-minutes per hour).
    by_segment: Vec<(usize, f64)>,
}

/// Run the scenario and its baseline. `progress(done, total)` counts steps of both runs.
pub fn run_scenario(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Comparison, RunError> {
    let steps = scenario.steps();
    let baseline = run_baseline(city, scenario, fit, &|k| progress(k, 2 * steps))?;
    run_against(city, scenario, fit, baseline, &|k| {
        progress(steps + k, 2 * steps)
    })
}

/// The baseline of a scenario: the same city, clock, seed and models without its changes.
pub fn run_baseline(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    progress: &dyn Fn(usize),
) -> Result<RunOutput, RunError> {
    run_once(
        city,
        scenario,
        &[],
        fit,
        &mut TrafficCache::default(),
        progress,
    )
}

/// What makes two scenarios share a baseline: everything but their changes.
pub fn baseline_key(s: &Scenario) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}|{:?}|{}|{}",
        s.city_dir.display(),
        s.start,
        s.horizon_h,
        s.step_h,
        s.seed,
        s.models,
        s.kpis,
        s.ev_share.map_or("city".to_string(), |x| x.to_string()),
        s.initial_bin_levels.len()
    )
}

/// Run a scenario against a baseline already run (batches and sweeps share one).
pub fn run_against(
    city: &CityModel,
    scenario: &Scenario,
    fit: Option<&DemandFit>,
    baseline: RunOutput,
    progress: &dyn Fn(usize),
) -> Result<Comparison, RunError> {
    let started = std::time::Instant::now();
    let steps = scenario.steps();
    let changed = run_once(
        city,
        scenario,
        &scenario.changes,
        fit,
        &mut TrafficCache::default(),
        progress,
    )?;
    let difference = baseline
        .kpis
        .iter()
        .filter_map(|(k, b)| Some((k.clone(), changed.kpis.get(k)? - b)))
        .collect();
    let mut streets: Vec<AffectedStreet> = baseline
        .street_vehicle_minutes
        .keys()
        .chain(changed.street_vehicle_minutes.keys())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|&s| {
            let e = &city.entities()[s];
            AffectedStreet {
                id: e.id.to_string(),
                name: e.name.clone(),
                baseline_vehicle_h: baseline
                    .street_vehicle_minutes
                    .get(&s)
                    .copied()
                    .unwrap_or(0.0)
                    / 60.0,
                scenario_vehicle_h: changed
                    .street_vehicle_minutes
                    .get(&s)
                    .copied()
                    .unwrap_or(0.0)
                    / 60.0,
            }
        })
        .collect();
    let change = |a: &AffectedStreet| (a.scenario_vehicle_h - a.baseline_vehicle_h).abs();
    streets.sort_by(|a, b| change(b).total_cmp(&change(a)).then(a.id.cmp(&b.id)));
    streets.truncate(10);
    streets.retain(|a| change(a) > 1e-6);
    let times = (0..steps)
        .map(|k| {
            scenario.start + Duration::seconds((k as f64 * scenario.step_h * 3600.0).round() as i64)
        })
        .collect();
    Ok(Comparison {
        baseline,
        scenario: changed,
        difference,
        most_affected_streets: streets,
        times,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A failure event as the power model sees it.
struct PowerEvent {
    from_h: f64,
    switched_h: f64,
    to_h: f64,
    status_failed: Vec<bool>,
    status_restored: Vec<bool>,
    counted: bool,
}

struct WaterEvent {
    from_h: f64,
    to_h: f64,
    without_supply: usize,
    deficient: usize,
    demand_lost_m3s: f64,
}

struct Bins {
    kind: Vec<WasteKind>,
    rate_factor: Vec<f64>,
    neighbourhood: Vec<usize>,
    level: Vec<f64>,
    full: Vec<bool>,
}

fn run_once(
    city: &CityModel,
    scenario: &Scenario,
    changes: &[Change],
    fit: Option<&DemandFit>,
    cache: &mut TrafficCache,
    progress: &dyn Fn(usize),
) -> Result<RunOutput, RunError> {
    let steps = scenario.steps();
    let dt = scenario.step_h;
    let mut out = RunOutput::default();
    let runs = |m: Model| scenario.runs(m);
    for (model, name) in [
        (Model::Traffic, "travel_time_veh_h_per_h"),
        (Model::Power, "grid_load_kw"),
        (Model::Power, "customers_without_power"),
        (Model::Water, "junctions_without_water"),
        (Model::Waste, "bins_full"),
        (Model::Ev, "ev_charging_kw"),
    ] {
        if runs(model) {
            out.series.insert(name.to_string(), vec![0.0; steps]);
        }
    }

    // --- EV
    let ev_share = changes
        .iter()
        .rev()
        .find_map(|c| match c {
            Change::EvShare(s) => Some(*s),
            _ => None,
        })
        .unwrap_or_else(|| scenario.ev_share.or(city.meta.ev.share).unwrap_or(0.0));
    let added: usize = changes
        .iter()
        .map(|c| match c {
            Change::AddChargers(n) => *n,
            _ => 0,
        })
        .sum();
    let mut ev = if runs(Model::Ev) {
        let fit = fit.ok_or_else(|| RunError::Ev("no sessions file".into()))?;
        let mut network =
            ChargingNetwork::for_city(city, added, &[]).map_err(|e| RunError::Ev(e.to_string()))?;
        for c in changes {
            if let Change::RemoveChargers(list) = c {
                network.remove_chargers(list);
            }
        }
        let fleet = fleet_size(city.meta.population, ev_share);
        let demand = DemandModel::new(
            fit.clone(),
            DemandSettings::default(),
            fleet,
            BusDuty::default(),
        );
        let sim = network.simulation(dt, Sharing::EarliestDeadline);
        Some((
            network,
            demand,
            sim,
            fleet,
            ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xe7),
        ))
    } else {
        None
    };
    let mut ev_days_loaded = 0u32;

    // --- power
    let case = city.power_case.as_ref();
    if runs(Model::Power) && case.is_none() {
        return Err(RunError::Power("the city has no power grid".into()));
    }
    // Posts: (entity, case row, customers, rated kVA).
    let bus_row: HashMap<u32, usize> = case
        .map(|c| c.bus.iter().enumerate().map(|(i, b)| (b.id, i)).collect())
        .unwrap_or_default();
    let posts: Vec<(usize, usize)> = city
        .entities()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.asset {
            Asset::TransformerPost(t) => Some((i, *bus_row.get(&t.bus)?)),
            _ => None,
        })
        .collect();
    // The EV model's post order is the city's post order too.
    let mut power_events = Vec::new();
    let mut water_events = Vec::new();
    for c in changes {
        let Change::Fail {
            elements,
            window,
            switching_min,
        } = c
        else {
            continue;
        };
        let (power_ids, water_ids): (Vec<usize>, Vec<usize>) = elements
            .iter()
            .partition(|&&e| !matches!(city.entities()[e].asset, Asset::Pipe(_)));
        if !power_ids.is_empty() && runs(Model::Power) {
            let ids: Vec<EntityId> = power_ids
                .iter()
                .map(|&e| city.entities()[e].id.clone())
                .collect();
            let o = analyse_power_outage(city, &ids, &RestorationLimits::default(), 1.0)
                .map_err(|e| RunError::Power(e.to_string()))?;
            let switched_h = switching_min.map_or(window.to_h, |m| window.from_h + m / 60.0);
            power_events.push(PowerEvent {
                from_h: window.from_h,
                switched_h: switched_h.min(window.to_h),
                to_h: window.to_h,
                status_failed: o.status_failed,
                status_restored: o.status_restored,
                counted: false,
            });
        }
        if !water_ids.is_empty() && runs(Model::Water) {
            let net = city
                .water_network
                .as_ref()
                .ok_or_else(|| RunError::Water("the city has no water network".into()))?;
            for &p in &water_ids {
                let b = twin_core::water::isolation::isolate_pipe_break(
                    net,
                    &city.water_valves,
                    city.entities()[p].id.local(),
                    SERVICE_PRESSURE_M,
                )
                .map_err(|e| RunError::Water(e.to_string()))?;
                water_events.push(WaterEvent {
                    from_h: window.from_h,
                    to_h: window.to_h,
                    without_supply: b.without_supply.len(),
                    deficient: b.pressure_deficient.len(),
                    demand_lost_m3s: b.demand_lost_m3s,
                });
            }
        }
    }
    let served = customers_served(city).max(1);
    let customers_at_row: HashMap<usize, u32> = posts
        .iter()
        .filter_map(|&(e, row)| match &city.entities()[e].asset {
            Asset::TransformerPost(t) => Some((row, t.customers)),
            _ => None,
        })
        .collect();
    let mut step_case = case.cloned();
    let (mut cmi, mut ens, mut ci) = (0.0, 0.0, 0.0f64);
    let mut overloaded: HashSet<usize> = HashSet::new();
    let (mut overload_h, mut peak_kw, mut min_v, mut energy_kwh) =
        (0.0, 0.0f64, f64::INFINITY, 0.0);
    let mut max_dark = 0u32;

    // --- waste
    let mut bins = if runs(Model::Waste) {
        Some(waste_bins(
            city,
            changes,
            scenario.seed,
            &scenario.initial_bin_levels,
        ))
    } else {
        None
    };
    let collection_days: HashMap<WasteKind, Vec<u32>> = changes
        .iter()
        .filter_map(|c| match c {
            Change::CollectionDays { stream, days } => Some((*stream, days.clone())),
            _ => None,
        })
        .collect();
    let (mut overflows, mut bin_hours_full, mut emptied) = (0u64, 0.0, 0u64);

    // --- water
    let base_water_m3s: f64 = city
        .water_network
        .as_ref()
        .map(|n| n.junctions.iter().map(|j| j.base_demand).sum::<f64>() * n.flow_units.to_m3s())
        .unwrap_or(0.0);
    let (mut water_m3, mut lost_m3, mut dry_h, mut deficit_h) = (0.0, 0.0, 0.0, 0.0);
    let (mut max_dry, mut max_deficient) = (0usize, 0usize);

    // --- traffic
    let (mut veh_h, mut delay_h) = (0.0, 0.0);

    let demand_at = |h: f64, pick: &dyn Fn(&Change) -> bool| -> f64 {
        changes
            .iter()
            .filter(|c| pick(c))
            .map(|c| match c {
                Change::Demand { factor, window, .. } if window.contains(h) => *factor,
                _ => 1.0,
            })
            .product()
    };
    for k in 0..steps {
        let h = k as f64 * dt;
        let clock = scenario.start + Duration::seconds((h * 3600.0).round() as i64);
        let hour = f64::from(clock.hour()) + f64::from(clock.minute()) / 60.0 + dt / 2.0;
        let weekday = clock.weekday().num_days_from_monday();

        // EV: this step's charging per post.
        let mut ev_post_kw: Vec<f64> = Vec::new();
        if let Some((network, demand, sim, _, rng)) = ev.as_mut() {
            let day = (h / 24.0).floor() as u32;
            while ev_days_loaded <= day {
                let date = scenario.start + Duration::days(i64::from(ev_days_loaded));
                let wd = date.weekday().num_days_from_monday();
                // Requests are in hours from the start's midnight; the run starts at `start`.
                let offset =
                    f64::from(scenario.start.hour()) + f64::from(scenario.start.minute()) / 60.0;
                let mut requests = network.day_requests(demand, ev_days_loaded, wd, rng);
                for (_, r) in &mut requests {
                    r.arrival_h -= offset;
                }
                sim.add(requests);
                ev_days_loaded += 1;
            }
            ev_post_kw = sim.step(k, None).to_vec();
            let total: f64 = ev_post_kw.iter().sum();
            if let Some(s) = out.series.get_mut("ev_charging_kw") {
                s[k] = total;
            }
        }

        // Power.
        if let (Some(case), Some(sc)) = (case, step_case.as_mut()) {
            if runs(Model::Power) {
                let factor = demand_at(h, &|c| matches!(c, Change::Demand { power: true, .. }));
                for (p, &(e, row)) in posts.iter().enumerate() {
                    let Asset::TransformerPost(t) = &city.entities()[e].asset else {
                        continue;
                    };
                    let (kw, kvar) = post_load(t, hour);
                    let ev_kw = ev_post_kw.get(p).copied().unwrap_or(0.0);
                    sc.bus[row].pd_mw = (kw * factor + ev_kw) / 1000.0;
                    sc.bus[row].qd_mvar = kvar * factor / 1000.0;
                }
                let mut status: Vec<bool> = case.branch.iter().map(|b| b.in_service).collect();
                for ev in power_events
                    .iter_mut()
                    .filter(|e| h >= e.from_h && h < e.to_h)
                {
                    let s = if h < ev.switched_h {
                        &ev.status_failed
                    } else {
                        &ev.status_restored
                    };
                    // Failed branches go out; tie switches the restoration closed come in.
                    for ((x, y), b) in status.iter_mut().zip(s).zip(&case.branch) {
                        if b.in_service {
                            *x = *x && *y;
                        } else {
                            *x = *x || *y;
                        }
                    }
                }
                let r = solve_load_flow(sc, Some(&status), 1.0)
                    .map_err(|e| RunError::Power(e.to_string()))?;
                let mut dark_customers = 0u32;
                let mut dark_kw = 0.0;
                for (&row, &c) in &customers_at_row {
                    if !r.energised[row] {
                        dark_customers += c;
                        dark_kw += sc.bus[row].pd_mw * 1000.0;
                    }
                }
                // Customers interrupted: counted once per event, at its first step.
                for ev in power_events.iter_mut() {
                    if !ev.counted && h >= ev.from_h && h < ev.to_h {
                        ev.counted = true;
                        if ev.to_h - ev.from_h > 3.0 / 60.0 {
                            ci += f64::from(dark_customers);
                        }
                    }
                }
                max_dark = max_dark.max(dark_customers);
                cmi += f64::from(dark_customers) * dt * 60.0;
                ens += dark_kw * dt;
                peak_kw = peak_kw.max(r.slack_p_kw);
                energy_kwh += r.slack_p_kw * dt;
                for (v, on) in r.vm_pu.iter().zip(&r.energised) {
                    if *on {
                        min_v = min_v.min(*v);
                    }
                }
                let mut over_now = 0;
                for (b, flow) in r.branches.iter().enumerate() {
                    if flow.loading_pct.is_some_and(|l| l > 100.0 + 1e-9) {
                        overloaded.insert(b);
                        over_now += 1;
                    }
                }
                for (p, &(e, row)) in posts.iter().enumerate() {
                    let Asset::TransformerPost(t) = &city.entities()[e].asset else {
                        continue;
                    };
                    let s =
                        (sc.bus[row].pd_mw.powi(2) + sc.bus[row].qd_mvar.powi(2)).sqrt() * 1000.0;
                    if r.energised[row] && s > t.rated_kva + 1e-9 {
                        overloaded.insert(case.branch.len() + p);
                        over_now += 1;
                    }
                }
                overload_h += f64::from(over_now) * dt;
                if let Some(s) = out.series.get_mut("grid_load_kw") {
                    s[k] = r.slack_p_kw;
                }
                if let Some(s) = out.series.get_mut("customers_without_power") {
                    s[k] = f64::from(dark_customers);
                }
            }
        }

        // Water.
        if runs(Model::Water) {
            let factor = demand_at(h, &|c| matches!(c, Change::Demand { water: true, .. }));
            water_m3 += base_water_m3s * water_curve(hour) * factor * dt * 3600.0;
            let (mut dry, mut deficient) = (0, 0);
            for w in water_events.iter().filter(|w| h >= w.from_h && h < w.to_h) {
                dry += w.without_supply;
                deficient += w.deficient;
                lost_m3 += w.demand_lost_m3s * water_curve(hour) * factor * dt * 3600.0;
            }
            max_dry = max_dry.max(dry);
            max_deficient = max_deficient.max(deficient);
            dry_h += dry as f64 * dt;
            deficit_h += deficient as f64 * dt;
            if let Some(s) = out.series.get_mut("junctions_without_water") {
                s[k] = dry as f64;
            }
        }

        // Waste.
        if let Some(b) = bins.as_mut() {
            let week = clock.iso_week().week();
            let collect_now =
                clock.hour() == 6 && clock.minute() < (dt * 60.0).round() as u32 && weekday != 6;
            for i in 0..b.level.len() {
                if collect_now {
                    let due = match collection_days.get(&b.kind[i]) {
                        Some(days) => days.contains(&weekday),
                        None => fixed_calendar_due(b.kind[i], weekday, week, b.neighbourhood[i]),
                    };
                    if due {
                        b.level[i] = 0.0;
                        b.full[i] = false;
                        emptied += 1;
                    }
                }
                let rate =
                    prior_rate_per_hour(b.kind[i], weekday, clock.month(), 1.0) * b.rate_factor[i];
                b.level[i] += rate * dt;
                if b.level[i] >= 1.0 {
                    if !b.full[i] {
                        overflows += 1;
                        b.full[i] = true;
                    }
                    bin_hours_full += dt;
                }
            }
            if let Some(s) = out.series.get_mut("bins_full") {
                s[k] = b.full.iter().filter(|f| **f).count() as f64;
            }
        }

        // Traffic.
        if runs(Model::Traffic) {
            let factor = demand_at(h, &|c| matches!(c, Change::Demand { traffic: true, .. }));
            let curve = traffic_curve(hour);
            let level = TRAFFIC_LEVELS
                .iter()
                .enumerate()
                .min_by(|a, b| (a.1 - curve).abs().total_cmp(&(b.1 - curve).abs()))
                .map_or(TRAFFIC_LEVELS.len() - 1, |(i, _)| i);
            let mut road = RoadChanges {
                demand_factor: TRAFFIC_LEVELS[level] * factor,
                ..RoadChanges::default()
            };
            for c in changes {
                if let Change::Streets {
                    segments,
                    capacity_factor,
                    window,
                } = c
                    && window.contains(h)
                {
                    for &s in segments {
                        let id = city.entities()[s].id.clone();
                        if *capacity_factor == 0.0 {
                            road.closed.push(id);
                        } else {
                            road.capacity_factors.push((id, *capacity_factor));
                        }
                    }
                }
            }
            let key = format!("{:?}|{:?}|{}", road.closed, road.capacity_factors, factor);
            if !cache.results.contains_key(&(key.clone(), level)) {
                let t = build_city_traffic(city, &road)
                    .map_err(|e| RunError::Traffic(e.to_string()))?;
                let r = assign(
                    &t.network,
                    &t.demand,
                    &AssignmentOptions::default(),
                    &mut |_| {},
                )
                .map_err(|e| RunError::Traffic(e.to_string()))?;
                let free_flow: f64 = t
                    .network
                    .links
                    .iter()
                    .zip(&r.flows)
                    .map(|(l, x)| l.free_flow_time * x)
                    .sum();
                let mut by_segment: HashMap<usize, f64> = HashMap::new();
                for (a, seg) in t.link_segment.iter().enumerate() {
                    if let Some(s) = seg {
                        *by_segment.entry(*s).or_default() += r.flows[a] * r.costs[a];
                    }
                }
                cache.results.insert(
                    (key.clone(), level),
                    TrafficAt {
                        vehicle_min: r.tstt,
                        free_flow_min: free_flow,
                        by_segment: by_segment.into_iter().collect(),
                    },
                );
            }
            let at = &cache.results[&(key, level)];
            // The level's flows last the step: vehicle-minutes per hour × hours.
            veh_h += at.vehicle_min / 60.0 * dt;
            delay_h += (at.vehicle_min - at.free_flow_min).max(0.0) / 60.0 * dt;
            for &(s, vm) in &at.by_segment {
                *out.street_vehicle_minutes.entry(s).or_default() += vm * dt;
            }
            if let Some(s) = out.series.get_mut("travel_time_veh_h_per_h") {
                s[k] = at.vehicle_min / 60.0;
            }
        }
        progress(k + 1);
    }

    let mut kpi = |name: &str, v: f64| {
        out.kpis.insert(name.to_string(), v);
    };
    if runs(Model::Traffic) {
        kpi("travel_time_veh_h", veh_h);
        kpi("delay_veh_h", delay_h);
    }
    if runs(Model::Power) {
        let saifi = ci / f64::from(served);
        let saidi = cmi / f64::from(served);
        kpi("customers_interrupted", ci);
        kpi("customers_without_power_max", f64::from(max_dark));
        kpi("customer_minutes_interrupted", cmi);
        kpi("saifi", saifi);
        kpi("saidi_min", saidi);
        kpi("caidi_min", if saifi > 0.0 { saidi / saifi } else { 0.0 });
        kpi("ens_kwh", ens);
        kpi("overloaded_elements", overloaded.len() as f64);
        kpi("overload_hours", overload_h);
        kpi("peak_load_kw", peak_kw);
        kpi("energy_supplied_kwh", energy_kwh);
        kpi(
            "min_voltage_pu",
            if min_v.is_finite() { min_v } else { 0.0 },
        );
    }
    if runs(Model::Water) {
        kpi("water_demand_m3", water_m3);
        kpi("water_not_supplied_m3", lost_m3);
        kpi("junctions_without_water_max", max_dry as f64);
        kpi("junction_hours_without_water", dry_h);
        kpi("pressure_deficient_junctions_max", max_deficient as f64);
        kpi("pressure_deficient_junction_hours", deficit_h);
    }
    if runs(Model::Waste) {
        kpi("bin_overflows", overflows as f64);
        kpi("bin_hours_full", bin_hours_full);
        kpi("bins_emptied", emptied as f64);
    }
    if let Some((network, _, sim, fleet, _)) = &ev {
        let t = sim.totals();
        let (mut occ, mut avail) = (0.0, 0.0);
        for &s in &network.public {
            occ += t.occupied_h[s];
            avail += t.available_h[s];
        }
        let series = out
            .series
            .get("ev_charging_kw")
            .cloned()
            .unwrap_or_default();
        let mut kpi = |name: &str, v: f64| {
            out.kpis.insert(name.to_string(), v);
        };
        kpi("evs", *fleet as f64);
        kpi("ev_energy_kwh", t.delivered_kwh);
        kpi("ev_unmet_energy_kwh", t.unmet.total());
        kpi(
            "ev_peak_load_kw",
            series.iter().copied().fold(0.0, f64::max),
        );
        kpi("charger_utilisation", occ / avail.max(f64::EPSILON));
    }
    if let Some(kpis) = &scenario.kpis {
        out.kpis.retain(|k, _| kpis.iter().any(|x| x == k));
    }
    Ok(out)
}

/// The city's bins in the waste model, with the scenario's added and removed bins: a removed
/// bin's waste goes to the nearest bin of its stream; added bins share their stream's waste
/// with the bins that fill fastest.
fn waste_bins(
    city: &CityModel,
    changes: &[Change],
    seed: u64,
    initial: &HashMap<usize, f64>,
) -> Bins {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xb1);
    let removed: HashSet<usize> = changes
        .iter()
        .flat_map(|c| match c {
            Change::RemoveBins(list) => list.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut entity = Vec::new();
    let mut b = Bins {
        kind: Vec::new(),
        rate_factor: Vec::new(),
        neighbourhood: Vec::new(),
        level: Vec::new(),
        full: Vec::new(),
    };
    let mut all = Vec::new();
    for (i, e) in city.entities().iter().enumerate() {
        if let Asset::WasteBin(w) = &e.asset {
            // Drawn for every bin, kept or not, so both runs see the same bins alike.
            let factor = (0.45 * twin_core::sampling::standard_normal(&mut rng) - 0.1).exp();
            let level = rng.random_range(0.0..0.6);
            all.push((i, w.stored_waste_kind, factor, level));
        }
    }
    for &(i, kind, factor, level) in &all {
        if removed.contains(&i) {
            continue;
        }
        entity.push(i);
        b.kind.push(kind);
        b.rate_factor.push(factor);
        b.neighbourhood.push(
            city.nearest_neighbourhood(city.entities()[i].location)
                .unwrap_or(0),
        );
        b.level.push(initial.get(&i).copied().unwrap_or(level));
        b.full.push(false);
    }
    for &(i, kind, factor, _) in all.iter().filter(|a| removed.contains(&a.0)) {
        let at = city.entities()[i].location;
        let nearest = (0..entity.len())
            .filter(|&k| b.kind[k] == kind)
            .min_by(|&x, &y| {
                let dx = city.entities()[entity[x]].location.distance_m(at);
                let dy = city.entities()[entity[y]].location.distance_m(at);
                dx.total_cmp(&dy)
            });
        if let Some(k) = nearest {
            b.rate_factor[k] += factor;
        }
    }
    for c in changes {
        if let Change::AddBins { stream, count } = c {
            // Each added bin halves the load of one of the fastest-filling bins of the stream.
            let mut members: Vec<usize> = (0..entity.len())
                .filter(|&k| b.kind[k] == *stream)
                .collect();
            members.sort_by(|&x, &y| b.rate_factor[y].total_cmp(&b.rate_factor[x]));
            for &k in members.iter().take(*count) {
                b.rate_factor[k] /= 2.0;
                b.kind.push(*stream);
                b.rate_factor.push(b.rate_factor[k]);
                b.neighbourhood.push(b.neighbourhood[k]);
                b.level.push(0.0);
                b.full.push(false);
                entity.push(entity[k]);
            }
        }
    }
    b
}
