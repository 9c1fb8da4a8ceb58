//! The city's EV study: a fleet of electric cars (a share of the city's cars) and Publitrans'
//! buses charging at home, at work, on the city's public chargers (plus any added) and at the
//! depot, step by step, with each charger's load on its 20/0.4 kV transformer post and the
//! load flow of the 20 kV grid solved at every step.
//!
//! It reports the city's charging load curve, the overload hours of posts (apparent power
//! above the rating) and feeders (head line above its rating), the lowest voltage, charger
//! utilisation, and the energy not delivered with its cause. With smart charging, each post's
//! charging load is capped at what its rating leaves beside the other load on it, shared by
//! earliest deadline or fair share; the energy this holds back is counted as capped.

use std::collections::{HashMap, VecDeque};

use chrono::NaiveDate;

use super::calibration::DemandFit;
use super::charging::{ChargingTotals, Sharing, Sockets};
use super::demand::DemandSettings;
pub use super::error::EvStudyError;
use super::network::{AddedSockets, Post};
use super::stepper::{ChargingSetup, EvStepper, SmartCharging};
use super::vehicles::BusDuty;
use crate::CityModel;
use crate::entity::Asset;
use crate::power::{GridState, post_overloaded};
use crate::profiles::post_load;

/// What to study.
#[derive(Debug, Clone, PartialEq)]
pub struct EvStudyConfig {
    pub ev_share: f64,
    pub start: NaiveDate,
    pub days: u32,
    /// Step, minutes (divides a day).
    pub step_minutes: u32,
    pub seed: u64,
    /// Public stations to add (each a 22 kW AC and a 50 kW DC socket, like the city's own).
    pub add_chargers: usize,
    /// Sockets added at named chargers or posts.
    pub add_sockets: Vec<AddedSockets>,
    /// How charging answers the grid: off, post caps, valley filling.
    pub smart: SmartCharging,
    pub sharing: Sharing,
    /// Extra caps on named sites (`charger:11` …), kW.
    pub site_caps: Vec<(String, f64)>,
    /// Electric cars instead of `ev_share` (benchmarks and scenarios).
    pub fleet_override: Option<usize>,
    pub demand: DemandSettings,
    /// The electric buses; none: the city's own (city.toml `[ev]`).
    pub buses: Option<BusDuty>,
}

impl EvStudyConfig {
    pub fn new(ev_share: f64, days: u32) -> EvStudyConfig {
        EvStudyConfig {
            ev_share,
            start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            days,
            step_minutes: 15,
            seed: 1,
            add_chargers: 0,
            add_sockets: Vec::new(),
            smart: SmartCharging::Off,
            sharing: Sharing::EarliestDeadline,
            site_caps: Vec::new(),
            fleet_override: None,
            demand: DemandSettings::default(),
            buses: None,
        }
    }
}

impl EvStudyConfig {
    /// The charging side of the study, as the stepper takes it (steps from the first day's
    /// midnight).
    pub fn charging_setup(&self) -> ChargingSetup {
        ChargingSetup {
            ev_share: self.ev_share,
            fleet_override: self.fleet_override,
            buses: self.buses,
            demand: self.demand.clone(),
            add_chargers: self.add_chargers,
            add_sockets: self.add_sockets.clone(),
            remove_chargers: Vec::new(),
            site_caps: self.site_caps.clone(),
            smart: self.smart,
            sharing: self.sharing,
            seed: self.seed,
            start: self.start.and_time(chrono::NaiveTime::MIN),
            step_h: f64::from(self.step_minutes) / 60.0,
        }
    }
}

/// A post's overload over the study.
#[derive(Debug, Clone, PartialEq)]
pub struct PostResult {
    pub id: String,
    pub rated_kva: f64,
    pub overload_hours: f64,
    /// Overload hours the same post has without any charging.
    pub base_overload_hours: f64,
    pub peak_loading: f64,
    pub peak_ev_kw: f64,
}

/// A 20 kV feeder (the lines behind one outgoing breaker of a substation).
#[derive(Debug, Clone, PartialEq)]
pub struct FeederResult {
    pub name: String,
    pub posts: usize,
    pub overload_hours: f64,
    pub peak_loading_pct: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteResult {
    pub name: String,
    pub sockets: usize,
    pub utilisation: f64,
    pub energy_kwh: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvStudyResult {
    pub ev_count: usize,
    pub buses: usize,
    pub steps: usize,
    pub step_h: f64,
    /// Total charging load per step, kW.
    pub load_curve_kw: Vec<f64>,
    pub peak_load_kw: f64,
    pub peak_step: usize,
    /// Overload hours summed over posts, with EVs and without any charging.
    pub overload_hours: f64,
    pub base_overload_hours: f64,
    pub posts_overloaded: usize,
    pub min_voltage_pu: f64,
    pub base_min_voltage_pu: f64,
    /// The grid's peak demand (charging and every other load, with losses: the power drawn
    /// from the 110 kV network), kW, with EVs and without any charging.
    pub grid_peak_kw: f64,
    pub base_grid_peak_kw: f64,
    pub charging: ChargingTotals,
    /// Socket-hours occupied over socket-hours available on the public chargers.
    pub charger_utilisation: f64,
    /// Posts with overload, most hours first.
    pub posts: Vec<PostResult>,
    pub feeders: Vec<FeederResult>,
    pub sites: Vec<SiteResult>,
    /// Where the added stations went (their post ids).
    pub added_at: Vec<String>,
}

impl EvStudyResult {
    pub fn unmet_energy_kwh(&self) -> f64 {
        self.charging.unmet.total()
    }

    /// Energy asked for but neither delivered nor unmet when the study stops, kWh: cars still
    /// plugged in or waiting at its last step (requested = delivered + unmet + this).
    pub fn still_due_kwh(&self) -> f64 {
        let t = &self.charging;
        (t.requested_kwh - t.delivered_kwh - t.unmet.total()).max(0.0)
    }
}

/// Run the study. `progress` is told each day done.
pub fn run_ev_study(
    city: &CityModel,
    fit: &DemandFit,
    config: &EvStudyConfig,
    progress: &dyn Fn(u32),
) -> Result<EvStudyResult, EvStudyError> {
    if config.step_minutes == 0 || 1440 % config.step_minutes != 0 {
        return Err(EvStudyError::BadStep(config.step_minutes));
    }
    let case = city.power_case.as_ref().ok_or(EvStudyError::NoGrid)?;
    let mut stepper = EvStepper::new(city, fit, &config.charging_setup())?;
    let posts: Vec<Post> = stepper.network().posts.clone();
    let rated: Vec<f64> = posts.iter().map(|p| p.rated_kva).collect();

    let step_h = f64::from(config.step_minutes) / 60.0;
    let steps_per_day = (1440 / config.step_minutes) as usize;
    let steps = steps_per_day * config.days as usize;
    let feeders = feeders_of(city, case, &posts);
    let mut grid = GridState::new(case);
    let mut load_curve = Vec::with_capacity(steps);
    let mut over_steps = vec![0usize; posts.len()];
    let mut base_over_steps = vec![0usize; posts.len()];
    let mut peak_loading = vec![0.0f64; posts.len()];
    let mut peak_ev = vec![0.0f64; posts.len()];
    let mut feeder_over = vec![0usize; feeders.heads.len()];
    let mut feeder_peak = vec![0.0f64; feeders.heads.len()];
    let (mut min_v, mut base_min_v) = (f64::INFINITY, f64::INFINITY);
    let (mut grid_peak, mut base_grid_peak) = (0.0f64, 0.0f64);
    let mut base: Vec<(f64, f64)> = vec![(0.0, 0.0); posts.len()];
    // The grid without charging: solved once per step of the day (base loads repeat daily).
    let mut base_of_day: Vec<Option<(f64, f64)>> = vec![None; steps_per_day];
    for day in 0..config.days {
        for s in 0..steps_per_day {
            let k = day as usize * steps_per_day + s;
            let hour = s as f64 * step_h + step_h / 2.0;
            for (p, post) in posts.iter().enumerate() {
                if let Asset::TransformerPost(t) = &city.entities()[post.entity].asset {
                    base[p] = post_load(t, hour);
                }
            }
            let ev = stepper.step(k, &base, &rated);
            let total: f64 = ev.iter().sum();
            load_curve.push(total);
            for (p, post) in posts.iter().enumerate() {
                let (bp, bq) = base[p];
                let s_ev = (bp + ev[p]).hypot(bq);
                let s_base = bp.hypot(bq);
                if post_overloaded(s_ev, post.rated_kva) {
                    over_steps[p] += 1;
                }
                if post_overloaded(s_base, post.rated_kva) {
                    base_over_steps[p] += 1;
                }
                peak_loading[p] = peak_loading[p].max(s_ev / post.rated_kva);
                peak_ev[p] = peak_ev[p].max(ev[p]);
                grid.set_load_kw(post.bus_row, bp + ev[p], bq);
            }
            let r = grid.solve().map_err(|e| EvStudyError::LoadFlow {
                step: k,
                why: e.to_string(),
            })?;
            min_v = min_v.min(lowest_voltage(&r));
            grid_peak = grid_peak.max(r.slack_p_kw);
            for (f, &head) in feeders.heads.iter().enumerate() {
                let pct = r.branches[head].loading_pct.unwrap_or(0.0);
                feeder_peak[f] = feeder_peak[f].max(pct);
                if pct > 100.0 + 1e-9 {
                    feeder_over[f] += 1;
                }
            }
            let (vmin, slack) = match base_of_day[s] {
                Some(v) => v,
                None => {
                    for (p, post) in posts.iter().enumerate() {
                        grid.set_active_kw(post.bus_row, base[p].0);
                    }
                    let r = grid.solve().map_err(|e| EvStudyError::LoadFlow {
                        step: k,
                        why: e.to_string(),
                    })?;
                    let v = (lowest_voltage(&r), r.slack_p_kw);
                    base_of_day[s] = Some(v);
                    v
                }
            };
            base_min_v = base_min_v.min(vmin);
            base_grid_peak = base_grid_peak.max(slack);
        }
        progress(day + 1);
    }
    let network = stepper.network();
    let sim = stepper.sim();
    let fleet = stepper.fleet();
    // Cars still plugged in at the end keep what they still want out of the totals.
    let totals = sim.totals().clone();
    let mut site_results = Vec::new();
    for &s in &network.public {
        let sockets = match &sim.sites()[s].sockets {
            Sockets::Shared(v) => v.len(),
            Sockets::Private(_) => 0,
        };
        site_results.push(SiteResult {
            name: sim.sites()[s].name.clone(),
            sockets,
            utilisation: totals.occupied_h[s] / totals.available_h[s].max(f64::EPSILON),
            energy_kwh: totals.site_kwh[s],
        });
    }
    site_results.sort_by(|a, b| b.utilisation.total_cmp(&a.utilisation));
    let mut post_results: Vec<PostResult> = posts
        .iter()
        .enumerate()
        .filter(|(p, _)| over_steps[*p] > 0 || base_over_steps[*p] > 0)
        .map(|(p, post)| PostResult {
            id: city.entities()[post.entity].id.to_string(),
            rated_kva: post.rated_kva,
            overload_hours: over_steps[p] as f64 * step_h,
            base_overload_hours: base_over_steps[p] as f64 * step_h,
            peak_loading: peak_loading[p],
            peak_ev_kw: peak_ev[p],
        })
        .collect();
    post_results.sort_by(|a, b| {
        b.overload_hours
            .total_cmp(&a.overload_hours)
            .then(a.id.cmp(&b.id))
    });
    let (peak_step, peak_load_kw) =
        load_curve
            .iter()
            .copied()
            .enumerate()
            .fold(
                (0, 0.0),
                |best, (k, v)| if v > best.1 { (k, v) } else { best },
            );
    Ok(EvStudyResult {
        ev_count: fleet,
        buses: stepper.buses(),
        steps,
        step_h,
        peak_load_kw,
        peak_step,
        overload_hours: over_steps.iter().sum::<usize>() as f64 * step_h,
        base_overload_hours: base_over_steps.iter().sum::<usize>() as f64 * step_h,
        posts_overloaded: over_steps.iter().filter(|&&n| n > 0).count(),
        min_voltage_pu: min_v,
        base_min_voltage_pu: base_min_v,
        charger_utilisation: stepper.public_utilisation(),
        grid_peak_kw: grid_peak,
        base_grid_peak_kw: base_grid_peak,
        charging: totals,
        load_curve_kw: load_curve,
        posts: post_results,
        feeders: feeders
            .names
            .iter()
            .enumerate()
            .map(|(f, name)| FeederResult {
                name: name.clone(),
                posts: feeders.posts[f],
                overload_hours: feeder_over[f] as f64 * step_h,
                peak_loading_pct: feeder_peak[f],
            })
            .collect(),
        sites: site_results,
        added_at: network.added_at.clone(),
    })
}

fn lowest_voltage(r: &crate::power::LoadFlowResult) -> f64 {
    r.vm_pu
        .iter()
        .zip(&r.energised)
        .filter(|(_, e)| **e)
        .map(|(v, _)| *v)
        .fold(f64::INFINITY, f64::min)
}

struct Feeders {
    /// Head branch (case row) of each feeder, its name and its posts.
    heads: Vec<usize>,
    names: Vec<String>,
    posts: Vec<usize>,
}

/// The feeders: every in-service branch from a substation's 20 kV bus that leads away from the
/// 110 kV side, with the posts behind it (not crossing another substation).
fn feeders_of(
    city: &CityModel,
    case: &crate::formats::matpower::MatpowerCase,
    posts: &[Post],
) -> Feeders {
    let row = case.bus_rows();
    let mut substations: HashMap<usize, String> = HashMap::new();
    for e in city.entities() {
        if let Asset::Substation(s) = &e.asset
            && let Some(&r) = row.get(&s.bus)
        {
            substations.insert(r, e.name.clone().unwrap_or_else(|| e.id.to_string()));
        }
    }
    let n = case.bus.len();
    let mut adjacency: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (k, b) in case.branch.iter().enumerate() {
        if !b.in_service {
            continue;
        }
        if let (Some(&f), Some(&t)) = (row.get(&b.from), row.get(&b.to)) {
            adjacency[f].push((k, t));
            adjacency[t].push((k, f));
        }
    }
    let high_side = |r: usize| case.bus[r].base_kv > 35.0;
    let post_rows: HashMap<usize, usize> = posts.iter().map(|p| (p.bus_row, 1)).collect();
    let mut out = Feeders {
        heads: Vec::new(),
        names: Vec::new(),
        posts: Vec::new(),
    };
    let mut subs: Vec<(&usize, &String)> = substations.iter().collect();
    subs.sort_by(|a, b| a.1.cmp(b.1));
    for (&sub, name) in subs {
        let mut k = 0;
        for &(branch, next) in &adjacency[sub] {
            if high_side(next) || substations.contains_key(&next) {
                continue;
            }
            k += 1;
            let mut seen = vec![false; n];
            seen[sub] = true;
            seen[next] = true;
            let mut queue = VecDeque::from([next]);
            let mut count = 0;
            while let Some(b) = queue.pop_front() {
                count += post_rows.get(&b).copied().unwrap_or(0);
                for &(_, m) in &adjacency[b] {
                    if !seen[m] && !substations.contains_key(&m) && !high_side(m) {
                        seen[m] = true;
                        queue.push_back(m);
                    }
                }
            }
            out.heads.push(branch);
            out.names.push(format!("{name} feeder {k}"));
            out.posts.push(count);
        }
    }
    out
}
