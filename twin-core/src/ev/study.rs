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

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::calibration::DemandFit;
use super::charging::{ChargingSim, ChargingTotals, Sharing, SiteSpec, SocketSpec, Sockets};
use super::demand::{ChargeRequest, DemandModel, DemandSettings, SiteType};
use super::vehicles::{BusDuty, city_fleet};
use crate::CityModel;
use crate::entity::{Asset, ChargerSite};
use crate::power::GridState;
use crate::profiles::{is_commercial, post_load};

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
    /// Cap each post's charging load at its rating's headroom.
    pub smart: bool,
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
            smart: false,
            sharing: Sharing::EarliestDeadline,
            site_caps: Vec::new(),
            fleet_override: None,
            demand: DemandSettings::default(),
            buses: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvStudyError {
    #[error("{0}")]
    MissingFact(String),
    #[error("the city has no power grid (no MATPOWER case)")]
    NoGrid,
    #[error("the city has no transformer posts")]
    NoPosts,
    #[error("--ev-share {0} is not between 0 and 1")]
    BadShare(f64),
    #[error("a step of {0} minutes does not divide a day")]
    BadStep(u32),
    #[error("site cap names `{0}`, which is not a charger of this city")]
    UnknownSite(String),
    #[error("the load flow failed at step {step}: {why}")]
    LoadFlow { step: usize, why: String },
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
}

struct Post {
    entity: usize,
    bus_row: usize,
    rated_kva: f64,
    commercial: bool,
    population: u32,
}

/// Run the study. `progress` is told each day done.
pub fn run_ev_study(
    city: &CityModel,
    fit: &DemandFit,
    config: &EvStudyConfig,
    progress: &dyn Fn(u32),
) -> Result<EvStudyResult, EvStudyError> {
    if !(0.0..=1.0).contains(&config.ev_share) {
        return Err(EvStudyError::BadShare(config.ev_share));
    }
    if config.step_minutes == 0 || 1440 % config.step_minutes != 0 {
        return Err(EvStudyError::BadStep(config.step_minutes));
    }
    let case = city.power_case.as_ref().ok_or(EvStudyError::NoGrid)?;
    let posts = posts_of(city, case);
    let fleet = match config.fleet_override {
        Some(n) => n,
        None => city_fleet(city, config.ev_share)
            .map_err(|e| EvStudyError::MissingFact(e.to_string()))?,
    };
    let buses = config
        .buses
        .unwrap_or_else(|| BusDuty::of_city(&city.meta.ev));
    let network = ChargingNetwork::new(city, posts, config.add_chargers, &config.site_caps)?;
    let posts = &network.posts;

    let step_h = f64::from(config.step_minutes) / 60.0;
    let steps_per_day = (1440 / config.step_minutes) as usize;
    let steps = steps_per_day * config.days as usize;
    let mut sim = network.simulation(step_h, config.sharing);
    let demand = DemandModel::new(fit.clone(), config.demand.clone(), fleet, buses);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);

    let feeders = feeders_of(city, case, posts);
    let mut grid = GridState::new(case);
    let mut load_curve = Vec::with_capacity(steps);
    let mut over_steps = vec![0usize; posts.len()];
    let mut base_over_steps = vec![0usize; posts.len()];
    let mut peak_loading = vec![0.0f64; posts.len()];
    let mut peak_ev = vec![0.0f64; posts.len()];
    let mut feeder_over = vec![0usize; feeders.heads.len()];
    let mut feeder_peak = vec![0.0f64; feeders.heads.len()];
    let (mut min_v, mut base_min_v) = (f64::INFINITY, f64::INFINITY);
    let mut base: Vec<(f64, f64)> = vec![(0.0, 0.0); posts.len()];
    let mut caps = vec![0.0; posts.len()];
    // The grid without charging: solved once per step of the day (base loads repeat daily).
    let mut base_vmin_of_day = vec![f64::NAN; steps_per_day];
    for day in 0..config.days {
        let date = config.start + chrono::Duration::days(i64::from(day));
        let weekday = date.weekday().num_days_from_monday();
        sim.add(network.day_requests(&demand, day, weekday, &mut rng));
        for s in 0..steps_per_day {
            let k = day as usize * steps_per_day + s;
            let hour = s as f64 * step_h + step_h / 2.0;
            for (p, post) in posts.iter().enumerate() {
                let Asset::TransformerPost(t) = &city.entities()[post.entity].asset else {
                    continue;
                };
                base[p] = post_load(t, hour);
                let (bp, bq) = base[p];
                caps[p] = ((post.rated_kva.powi(2) - bq * bq).max(0.0).sqrt() - bp).max(0.0);
            }
            let ev = sim.step(k, config.smart.then_some(&caps[..]));
            let total: f64 = ev.iter().sum();
            load_curve.push(total);
            for (p, post) in posts.iter().enumerate() {
                let (bp, bq) = base[p];
                let s_ev = ((bp + ev[p]).powi(2) + bq * bq).sqrt() / post.rated_kva;
                let s_base = (bp * bp + bq * bq).sqrt() / post.rated_kva;
                if s_ev > 1.0 + 1e-9 {
                    over_steps[p] += 1;
                }
                if s_base > 1.0 + 1e-9 {
                    base_over_steps[p] += 1;
                }
                peak_loading[p] = peak_loading[p].max(s_ev);
                peak_ev[p] = peak_ev[p].max(ev[p]);
                grid.set_load_kw(post.bus_row, bp + ev[p], bq);
            }
            let r = grid.solve().map_err(|e| EvStudyError::LoadFlow {
                step: k,
                why: e.to_string(),
            })?;
            min_v = min_v.min(lowest_voltage(&r));
            for (f, &head) in feeders.heads.iter().enumerate() {
                let pct = r.branches[head].loading_pct.unwrap_or(0.0);
                feeder_peak[f] = feeder_peak[f].max(pct);
                if pct > 100.0 + 1e-9 {
                    feeder_over[f] += 1;
                }
            }
            if base_vmin_of_day[s].is_nan() {
                for (p, post) in posts.iter().enumerate() {
                    grid.set_active_kw(post.bus_row, base[p].0);
                }
                let r = grid.solve().map_err(|e| EvStudyError::LoadFlow {
                    step: k,
                    why: e.to_string(),
                })?;
                base_vmin_of_day[s] = lowest_voltage(&r);
            }
            base_min_v = base_min_v.min(base_vmin_of_day[s]);
        }
        progress(day + 1);
    }
    // Cars still plugged in at the end keep what they still want out of the totals.
    let totals = sim.totals().clone();
    let (mut occupied, mut available) = (0.0, 0.0);
    let mut site_results = Vec::new();
    for &s in &network.public {
        occupied += totals.occupied_h[s];
        available += totals.available_h[s];
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
        buses: buses.buses,
        steps,
        step_h,
        peak_load_kw,
        peak_step,
        overload_hours: over_steps.iter().sum::<usize>() as f64 * step_h,
        base_overload_hours: base_over_steps.iter().sum::<usize>() as f64 * step_h,
        posts_overloaded: over_steps.iter().filter(|&&n| n > 0).count(),
        min_voltage_pu: min_v,
        base_min_voltage_pu: base_min_v,
        charger_utilisation: occupied / available.max(f64::EPSILON),
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

/// The transformer posts of a city's grid, with their case rows.
fn posts_of(city: &CityModel, case: &crate::formats::matpower::MatpowerCase) -> Vec<Post> {
    let bus_row = case.bus_rows();
    city.entities()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.asset {
            Asset::TransformerPost(t) => Some(Post {
                entity: i,
                bus_row: *bus_row.get(&t.bus)?,
                rated_kva: t.rated_kva,
                commercial: is_commercial(t),
                population: t.population,
            }),
            _ => None,
        })
        .collect()
}

/// Where a city's cars and buses charge: private home and workplace sockets behind each post,
/// the city's public chargers and depot, and any added stations; and which site a request goes
/// to. The study and the live twin's simulated feed share it.
pub struct ChargingNetwork {
    pub sites: Vec<SiteSpec>,
    posts: Vec<Post>,
    /// Public chargers (city's and added), as site indices.
    pub public: Vec<usize>,
    /// The site of each of the city's chargers (entity index, site index).
    pub chargers: Vec<(usize, usize)>,
    pub added_at: Vec<String>,
    homes: Vec<(usize, f64)>,
    home_cumulative: Vec<f64>,
    work_sites: Vec<(usize, f64)>,
    ac_weights: Vec<(usize, f64)>,
    dc_weights: Vec<(usize, f64)>,
    depot_slow: Option<usize>,
    depot_fast: Option<usize>,
}

impl ChargingNetwork {
    /// The sites of `city` (its grid must be loaded), with `add_chargers` public stations (a
    /// 22 kW AC and a 50 kW DC socket each) at the residential posts with the most headroom,
    /// 400 m apart where possible, and caps on named sites.
    pub fn for_city(
        city: &CityModel,
        add_chargers: usize,
        site_caps: &[(String, f64)],
    ) -> Result<ChargingNetwork, EvStudyError> {
        let case = city.power_case.as_ref().ok_or(EvStudyError::NoGrid)?;
        ChargingNetwork::new(city, posts_of(city, case), add_chargers, site_caps)
    }

    fn new(
        city: &CityModel,
        posts: Vec<Post>,
        add_chargers: usize,
        site_caps: &[(String, f64)],
    ) -> Result<ChargingNetwork, EvStudyError> {
        if posts.is_empty() {
            return Err(EvStudyError::NoPosts);
        }
        let post_of_entity: HashMap<usize, usize> = posts
            .iter()
            .enumerate()
            .map(|(k, p)| (p.entity, k))
            .collect();
        // Private homes and workplaces per post, then the city's chargers, then added ones.
        let mut sites: Vec<SiteSpec> = Vec::new();
        let mut homes = Vec::new();
        let mut work_sites = Vec::new();
        for (k, p) in posts.iter().enumerate() {
            let name = city.entities()[p.entity].id.to_string();
            if p.commercial {
                work_sites.push((sites.len(), p.rated_kva));
                sites.push(SiteSpec {
                    name: format!("workplaces at {name}"),
                    post: k,
                    sockets: Sockets::Private(SocketSpec {
                        kw: 11.0,
                        dc: false,
                    }),
                    patience_h: 0.0,
                    cap_kw: None,
                });
            } else if p.population > 0 {
                homes.push((sites.len(), f64::from(p.population)));
                sites.push(SiteSpec {
                    name: format!("homes at {name}"),
                    post: k,
                    sockets: Sockets::Private(SocketSpec { kw: 7.4, dc: false }),
                    patience_h: 0.0,
                    cap_kw: None,
                });
            }
        }
        let first_public = sites.len();
        let (mut depot_slow, mut depot_fast) = (None, None);
        let mut charger_posts = Vec::new();
        let mut chargers = Vec::new();
        for (i, e) in city.entities().iter().enumerate() {
            let Asset::EvCharger(c) = &e.asset else {
                continue;
            };
            let Some(&post) = city
                .entity_index(&c.grid_connection)
                .and_then(|j| post_of_entity.get(&j))
            else {
                continue;
            };
            charger_posts.push(post);
            let sockets: Vec<SocketSpec> = c
                .sockets
                .iter()
                .map(|s| SocketSpec {
                    kw: s.max_power_kw,
                    dc: s.max_power_kw > 22.0,
                })
                .collect();
            if c.site == ChargerSite::BusDepot {
                let fast = sockets.iter().any(|s| s.kw >= 150.0);
                *(if fast {
                    &mut depot_fast
                } else {
                    &mut depot_slow
                }) = Some(sites.len());
            }
            chargers.push((i, sites.len()));
            // Fast hubs wait less: a driver on a trip moves on.
            let patience_h = if sockets.iter().all(|x| x.dc) {
                0.25
            } else {
                0.5
            };
            sites.push(SiteSpec {
                name: e.id.to_string(),
                post,
                sockets: Sockets::Shared(sockets),
                patience_h,
                cap_kw: None,
            });
        }
        let mut added_at = Vec::new();
        if add_chargers > 0 {
            let mut candidates: Vec<usize> = (0..posts.len())
                .filter(|&k| !posts[k].commercial && posts[k].population > 0)
                .collect();
            let headroom = |k: usize| match &city.entities()[posts[k].entity].asset {
                Asset::TransformerPost(t) => t.rated_kva - t.peak_kw,
                _ => 0.0,
            };
            candidates.sort_by(|&a, &b| headroom(b).total_cmp(&headroom(a)));
            let mut taken: Vec<usize> = charger_posts;
            for min_m in [400.0, 200.0, 0.0] {
                for &k in &candidates {
                    if added_at.len() >= add_chargers {
                        break;
                    }
                    let at = city.entities()[posts[k].entity].location;
                    let clear = taken.iter().all(|&j| {
                        j != k && city.entities()[posts[j].entity].location.distance_m(at) >= min_m
                    });
                    if clear {
                        taken.push(k);
                        let name = city.entities()[posts[k].entity].id.to_string();
                        added_at.push(name.clone());
                        sites.push(SiteSpec {
                            name: format!("added station at {name}"),
                            post: k,
                            sockets: Sockets::Shared(vec![
                                SocketSpec {
                                    kw: 22.0,
                                    dc: false,
                                },
                                SocketSpec { kw: 50.0, dc: true },
                            ]),
                            patience_h: 0.5,
                            cap_kw: None,
                        });
                    }
                }
            }
        }
        for (name, cap) in site_caps {
            let site = sites
                .iter_mut()
                .find(|s| &s.name == name)
                .ok_or_else(|| EvStudyError::UnknownSite(name.clone()))?;
            site.cap_kw = Some(*cap);
        }
        let public: Vec<usize> = (first_public..sites.len())
            .filter(|&s| Some(s) != depot_slow && Some(s) != depot_fast)
            .collect();
        let count = |s: usize, dc: bool| match &sites[s].sockets {
            Sockets::Shared(v) => v.iter().filter(|x| x.dc == dc).count() as f64,
            Sockets::Private(_) => 0.0,
        };
        let ac_weights = public.iter().map(|&s| (s, count(s, false))).collect();
        let dc_weights = public.iter().map(|&s| (s, count(s, true))).collect();
        let total: f64 = homes.iter().map(|h: &(usize, f64)| h.1).sum();
        let mut acc = 0.0;
        let home_cumulative = homes
            .iter()
            .map(|h| {
                acc += h.1 / total.max(f64::EPSILON);
                acc
            })
            .collect();
        Ok(ChargingNetwork {
            sites,
            posts,
            public,
            chargers,
            added_at,
            homes,
            home_cumulative,
            work_sites,
            ac_weights,
            dc_weights,
            depot_slow,
            depot_fast,
        })
    }

    /// Day `day`'s requests of `demand` (the study's start being day 0, `weekday` Monday = 0)
    /// with the site each goes to; requests with no such site in the city are dropped.
    pub fn day_requests(
        &self,
        demand: &DemandModel,
        day: u32,
        weekday: u32,
        rng: &mut impl Rng,
    ) -> Vec<(usize, ChargeRequest)> {
        let fleet = demand.fleet;
        demand
            .day(day, weekday, rng)
            .into_iter()
            .filter_map(|r| Some((self.site_of(&r, fleet, rng)?, r)))
            .collect()
    }

    /// The site a request goes to: the car's home, a workplace, a public charger of the kind
    /// it needs (weighted by sockets), the depot. None when the city has no such site.
    pub fn site_of(&self, r: &ChargeRequest, fleet: usize, rng: &mut impl Rng) -> Option<usize> {
        match r.site {
            SiteType::Home => self.home_site(r.vehicle, fleet),
            SiteType::Workplace => pick(&self.work_sites, rng),
            SiteType::PublicAc => pick(&self.ac_weights, rng),
            SiteType::FastHub => pick(&self.dc_weights, rng),
            SiteType::BusDepotSlow => self.depot_slow,
            SiteType::BusDepotFast => self.depot_fast,
        }
    }

    /// Car k's home: posts in proportion to the people behind them, cars spread over them by a
    /// fixed permutation (so neighbouring car numbers, which share a model, live apart).
    pub fn home_site(&self, k: usize, fleet: usize) -> Option<usize> {
        if self.homes.is_empty() || fleet == 0 {
            return None;
        }
        let spread = (k.wrapping_mul(7_919) % fleet) as f64;
        let x = (spread + 0.5) / fleet as f64;
        let i = self
            .home_cumulative
            .partition_point(|&c| c < x)
            .min(self.homes.len() - 1);
        Some(self.homes[i].0)
    }

    pub fn posts(&self) -> usize {
        self.posts.len()
    }

    /// A charging simulation over these sites, in which a car that gives up waiting may try
    /// another public charger once.
    pub fn simulation(&self, dt_h: f64, sharing: Sharing) -> ChargingSim {
        ChargingSim::new(self.sites.clone(), self.posts.len(), dt_h, sharing)
            .with_alternatives(self.public.clone())
    }

    /// Take chargers (entity indices) out of service: their sites keep no socket and get no
    /// more cars.
    pub fn remove_chargers(&mut self, entities: &[usize]) {
        for &(e, site) in &self.chargers {
            if entities.contains(&e) {
                self.sites[site].sockets = Sockets::Shared(Vec::new());
                for (s, w) in self.ac_weights.iter_mut().chain(self.dc_weights.iter_mut()) {
                    if *s == site {
                        *w = 0.0;
                    }
                }
            }
        }
    }
}

fn lowest_voltage(r: &crate::power::LoadFlowResult) -> f64 {
    r.vm_pu
        .iter()
        .zip(&r.energised)
        .filter(|(_, e)| **e)
        .map(|(v, _)| *v)
        .fold(f64::INFINITY, f64::min)
}

/// A weighted random choice among (item, weight).
fn pick(items: &[(usize, f64)], rng: &mut impl Rng) -> Option<usize> {
    let total: f64 = items.iter().map(|i| i.1).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = rng.random::<f64>() * total;
    for &(item, w) in items {
        if x < w {
            return Some(item);
        }
        x -= w;
    }
    items.last().map(|i| i.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_their_weights() {
        let items = [(10, 1.0), (11, 3.0)];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let picks = (0..10_000)
            .filter(|_| pick(&items, &mut rng) == Some(11))
            .count();
        assert!((picks as f64 / 10_000.0 - 0.75).abs() < 0.02);
        assert_eq!(pick(&[(1, 0.0)], &mut rng), None);
    }
}
