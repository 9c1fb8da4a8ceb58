//! Charging step by step: cars arrive at sites, take a free socket of the kind they need or
//! queue; when their patience runs out they drive once to another public site with a free
//! socket of their kind (as a charging app would show them), or leave; they charge at what the
//! socket, the car and its
//! charging curve allow, and leave at the end of their stay whatever they got. Power caps on a
//! site or a transformer post (smart charging) are shared among the sessions under them, by
//! earliest deadline first or by fair share. Every kWh not delivered is counted with its cause.

use std::collections::VecDeque;

use super::demand::{ChargeRequest, SiteType};

/// A charging point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SocketSpec {
    pub kw: f64,
    pub dc: bool,
}

/// Whether a site has a fixed set of sockets or one for every car (home wallboxes, private
/// workplace posts).
#[derive(Debug, Clone, PartialEq)]
pub enum Sockets {
    Shared(Vec<SocketSpec>),
    Private(SocketSpec),
}

/// A site: its sockets, the transformer post it draws from, how long cars wait for a socket,
/// and an optional power cap.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSpec {
    pub name: String,
    /// Index of its transformer post among the study's posts.
    pub post: usize,
    pub sockets: Sockets,
    pub patience_h: f64,
    pub cap_kw: Option<f64>,
}

/// How a power cap is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// The session that leaves first is served first.
    EarliestDeadline,
    /// Equal shares, what a session cannot take going to the others (water-filling).
    FairShare,
}

impl Sharing {
    pub fn from_name(s: &str) -> Option<Sharing> {
        match s {
            "edf" | "earliest-deadline" => Some(Sharing::EarliestDeadline),
            "fair" | "fair-share" => Some(Sharing::FairShare),
            _ => None,
        }
    }
}

/// Share `cap` kW among sessions wanting `want[k]` kW and leaving at `deadline[k]`.
pub fn share_power(want: &[f64], deadline: &[f64], cap: f64, sharing: Sharing) -> Vec<f64> {
    let total: f64 = want.iter().sum();
    if total <= cap {
        return want.to_vec();
    }
    let cap = cap.max(0.0);
    let mut out = vec![0.0; want.len()];
    let mut order: Vec<usize> = (0..want.len()).collect();
    match sharing {
        Sharing::EarliestDeadline => {
            order.sort_by(|&a, &b| deadline[a].total_cmp(&deadline[b]));
            let mut left = cap;
            for k in order {
                out[k] = want[k].min(left);
                left -= out[k];
            }
        }
        Sharing::FairShare => {
            order.sort_by(|&a, &b| want[a].total_cmp(&want[b]));
            let mut left = cap;
            let mut n = order.len();
            for k in order {
                let level = left / n as f64;
                out[k] = want[k].min(level);
                left -= out[k];
                n -= 1;
            }
        }
    }
    out
}

/// Energy not delivered, by cause, kWh.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Unmet {
    /// Cars that found no socket and left.
    pub no_socket_kwh: f64,
    /// Sessions held below what they could take by a power cap and left short.
    pub capped_kwh: f64,
    /// Sessions too short for the energy wanted even at full power.
    pub short_stay_kwh: f64,
}

impl Unmet {
    pub fn total(&self) -> f64 {
        self.no_socket_kwh + self.capped_kwh + self.short_stay_kwh
    }
}

/// Running totals of a simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChargingTotals {
    pub requested_kwh: f64,
    pub delivered_kwh: f64,
    pub unmet: Unmet,
    pub sessions: u64,
    pub left_without_socket: u64,
    /// Cars that gave up waiting and found a socket at another site.
    pub moved_to_another_site: u64,
    /// Per site: socket-hours occupied and socket-hours available (shared sites only).
    pub occupied_h: Vec<f64>,
    pub available_h: Vec<f64>,
    /// Per site: energy delivered, kWh.
    pub site_kwh: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Active {
    req: ChargeRequest,
    socket: SocketSpec,
    socket_index: usize,
    soc: f64,
    remaining_kwh: f64,
    depart_h: f64,
    capped: bool,
    /// Power this step (set by `step`).
    power_kw: f64,
}

#[derive(Debug, Clone, Default)]
struct SiteState {
    plugged: Vec<Active>,
    /// Waiting cars, and whether each has already moved here from another site.
    queue: VecDeque<(ChargeRequest, bool)>,
    /// Free flags of shared sockets.
    free: Vec<bool>,
}

/// How posts cap charging in a step.
#[derive(Clone, Copy)]
enum PostCaps<'a> {
    /// kW per post, whatever the cars need.
    Hard(&'a [f64]),
    /// Under `soft` unless the cars' deadlines need more, never above `hard` (kW per post).
    Flexible { hard: &'a [f64], soft: &'a [f64] },
}

/// The simulation of every site over equal steps.
pub struct ChargingSim {
    sites: Vec<SiteSpec>,
    state: Vec<SiteState>,
    posts: usize,
    dt_h: f64,
    sharing: Sharing,
    pending: Vec<(usize, ChargeRequest)>,
    next_pending: usize,
    post_load: Vec<f64>,
    totals: ChargingTotals,
    /// Sites a car that gave up waiting may try instead (the public chargers).
    alternatives: Vec<usize>,
}

/// Fast hubs and the depot's bus chargers are DC; the rest AC.
fn wants_dc(site: SiteType) -> bool {
    matches!(
        site,
        SiteType::FastHub | SiteType::BusDepotSlow | SiteType::BusDepotFast
    )
}

impl ChargingSim {
    pub fn new(sites: Vec<SiteSpec>, posts: usize, dt_h: f64, sharing: Sharing) -> ChargingSim {
        let state = sites
            .iter()
            .map(|s| SiteState {
                free: match &s.sockets {
                    Sockets::Shared(v) => vec![true; v.len()],
                    Sockets::Private(_) => Vec::new(),
                },
                ..SiteState::default()
            })
            .collect();
        let n = sites.len();
        ChargingSim {
            sites,
            state,
            posts,
            dt_h,
            sharing,
            pending: Vec::new(),
            next_pending: 0,
            alternatives: Vec::new(),
            post_load: vec![0.0; posts],
            totals: ChargingTotals {
                occupied_h: vec![0.0; n],
                available_h: vec![0.0; n],
                site_kwh: vec![0.0; n],
                ..ChargingTotals::default()
            },
        }
    }

    /// Let cars that give up waiting try one of these sites (with a free socket of their kind)
    /// once before leaving.
    pub fn with_alternatives(mut self, sites: Vec<usize>) -> ChargingSim {
        self.alternatives = sites;
        self
    }

    pub fn sites(&self) -> &[SiteSpec] {
        &self.sites
    }

    /// Add requests at `site` (arrivals not before those already added are kept in order).
    pub fn add(&mut self, requests: impl IntoIterator<Item = (usize, ChargeRequest)>) {
        for (site, r) in requests {
            self.totals.requested_kwh += r.energy_kwh;
            self.pending.push((site, r));
        }
        let rest = &mut self.pending[self.next_pending..];
        rest.sort_by(|a, b| a.1.arrival_h.total_cmp(&b.1.arrival_h));
    }

    pub fn totals(&self) -> &ChargingTotals {
        &self.totals
    }

    /// Each socket of a shared site: None when free, else the power it delivered in the last
    /// step (0 for a car that is full but still plugged in).
    pub fn socket_powers(&self, site: usize) -> Vec<Option<f64>> {
        let Some(st) = self.state.get(site) else {
            return Vec::new();
        };
        let mut out = vec![None; st.free.len()];
        for a in &st.plugged {
            if let Some(slot) = out.get_mut(a.socket_index) {
                *slot = Some(a.power_kw);
            }
        }
        out
    }

    /// Cars plugged in now.
    pub fn plugged(&self) -> usize {
        self.state.iter().map(|s| s.plugged.len()).sum()
    }

    /// Advance one step `[k·dt, (k+1)·dt)`; `post_caps` (kW per post) limit the charging load
    /// on each post. Returns the charging load per post, kW.
    pub fn step(&mut self, k: usize, post_caps: Option<&[f64]>) -> &[f64] {
        self.step_capped(k, post_caps.map(PostCaps::Hard))
    }

    /// Advance one step under flexible caps: each post's charging is held under `soft` (kW per
    /// post) but never below what its plugged cars need to finish by their departure at an
    /// even rate (least laxity), and never above `hard` (the post's rating headroom). Returns
    /// the charging load per post, kW.
    pub fn step_flexible(&mut self, k: usize, hard: &[f64], soft: &[f64]) -> &[f64] {
        self.step_capped(k, Some(PostCaps::Flexible { hard, soft }))
    }

    fn step_capped(&mut self, k: usize, post_caps: Option<PostCaps<'_>>) -> &[f64] {
        let t = k as f64 * self.dt_h;
        let t1 = t + self.dt_h;
        for s in 0..self.sites.len() {
            self.depart(s, t);
        }
        // Arrivals of this step.
        while self.next_pending < self.pending.len()
            && self.pending[self.next_pending].1.arrival_h < t1
        {
            let (site, r) = self.pending[self.next_pending];
            self.next_pending += 1;
            if site < self.sites.len() {
                self.totals.sessions += 1;
                self.state[site].queue.push_back((r, false));
            }
        }
        for s in 0..self.sites.len() {
            self.admit(s);
        }
        // What each session could take, then the caps.
        let dt = self.dt_h;
        for (s, st) in self.state.iter_mut().enumerate() {
            for a in &mut st.plugged {
                a.power_kw = a
                    .req
                    .model
                    .charge_power_kw(a.socket.kw, a.socket.dc, a.soc)
                    .min(a.remaining_kwh / dt)
                    .max(0.0);
            }
            if let Some(cap) = self.sites[s].cap_kw {
                cap_sessions(
                    &mut st.plugged.iter_mut().collect::<Vec<_>>(),
                    cap,
                    self.sharing,
                );
            }
        }
        if let Some(rule) = post_caps {
            let mut sums = vec![0.0; self.posts];
            for (s, st) in self.state.iter().enumerate() {
                sums[self.sites[s].post] += st.plugged.iter().map(|a| a.power_kw).sum::<f64>();
            }
            let caps: Vec<f64> = match rule {
                PostCaps::Hard(caps) => caps.to_vec(),
                PostCaps::Flexible { hard, soft } => {
                    // What each post's cars need this step to finish by departure.
                    let mut need = vec![0.0; self.posts];
                    for (s, st) in self.state.iter().enumerate() {
                        for a in &st.plugged {
                            let left_h = (a.depart_h - t).max(dt);
                            need[self.sites[s].post] += a.power_kw.min(a.remaining_kwh / left_h);
                        }
                    }
                    (0..self.posts)
                        .map(|p| {
                            let soft = soft.get(p).copied().unwrap_or(f64::INFINITY);
                            let hard = hard.get(p).copied().unwrap_or(f64::INFINITY);
                            soft.max(need[p]).min(hard)
                        })
                        .collect()
                }
            };
            let over: Vec<usize> = (0..self.posts)
                .filter(|&p| caps.get(p).is_some_and(|&c| sums[p] > c + 1e-9))
                .collect();
            for p in over {
                let mut at_post: Vec<&mut Active> = self
                    .state
                    .iter_mut()
                    .enumerate()
                    .filter(|(s, _)| self.sites[*s].post == p)
                    .flat_map(|(_, st)| st.plugged.iter_mut())
                    .collect();
                cap_sessions(&mut at_post, caps[p], self.sharing);
            }
        }
        self.post_load.iter_mut().for_each(|v| *v = 0.0);
        for (s, st) in self.state.iter_mut().enumerate() {
            let post = self.sites[s].post;
            for a in &mut st.plugged {
                let e = a.power_kw * dt;
                a.remaining_kwh = (a.remaining_kwh - e).max(0.0);
                a.soc = (a.soc + e / a.req.model.battery_kwh).min(1.0);
                self.post_load[post] += a.power_kw;
                self.totals.delivered_kwh += e;
                self.totals.site_kwh[s] += e;
            }
            if let Sockets::Shared(v) = &self.sites[s].sockets {
                self.totals.available_h[s] += v.len() as f64 * dt;
                self.totals.occupied_h[s] += st.plugged.len() as f64 * dt;
            }
        }
        &self.post_load
    }

    /// Unplug the cars whose stay is over at `t`, and drop queued cars out of patience.
    fn depart(&mut self, s: usize, t: f64) {
        let st = &mut self.state[s];
        let totals = &mut self.totals;
        st.plugged.retain(|a| {
            if a.depart_h > t {
                return true;
            }
            if a.remaining_kwh > 1e-6 {
                if a.capped {
                    totals.unmet.capped_kwh += a.remaining_kwh;
                } else {
                    totals.unmet.short_stay_kwh += a.remaining_kwh;
                }
            }
            if let Some(f) = st.free.get_mut(a.socket_index) {
                *f = true;
            }
            false
        });
        let patience = self.sites[s].patience_h;
        let mut gave_up = Vec::new();
        while let Some((r, moved)) = st.queue.front() {
            let gives_up = (r.arrival_h + patience).min(r.arrival_h + r.dwell_h);
            if gives_up > t {
                break;
            }
            gave_up.push((*r, *moved));
            st.queue.pop_front();
        }
        for (r, moved) in gave_up {
            let end = r.arrival_h + r.dwell_h;
            let elsewhere = if moved || end - t < self.dt_h {
                None
            } else {
                self.free_site_for(&r, s)
            };
            match elsewhere {
                Some(other) => {
                    let moved_req = ChargeRequest {
                        arrival_h: t,
                        dwell_h: end - t,
                        ..r
                    };
                    self.state[other].queue.push_back((moved_req, true));
                    self.totals.moved_to_another_site += 1;
                }
                None => {
                    self.totals.unmet.no_socket_kwh += r.energy_kwh;
                    self.totals.left_without_socket += 1;
                }
            }
        }
    }

    /// The alternative site (not `here`) with the most sockets of the car's kind free and not
    /// claimed by its own queue, if any has one.
    fn free_site_for(&self, r: &ChargeRequest, here: usize) -> Option<usize> {
        let dc = wants_dc(r.site);
        self.alternatives
            .iter()
            .copied()
            .filter(|&a| a != here && a < self.sites.len())
            .filter_map(|a| {
                let Sockets::Shared(v) = &self.sites[a].sockets else {
                    return None;
                };
                let st = &self.state[a];
                let free = (0..v.len())
                    .filter(|&i| st.free[i] && v[i].dc == dc)
                    .count();
                let waiting = st
                    .queue
                    .iter()
                    .filter(|(q, _)| wants_dc(q.site) == dc)
                    .count();
                (free > waiting).then(|| (a, free - waiting))
            })
            .max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0)))
            .map(|(a, _)| a)
    }

    /// Plug in queued cars, first come first served, where a socket of their kind is free.
    fn admit(&mut self, s: usize) {
        let st = &mut self.state[s];
        let mut waiting = VecDeque::new();
        while let Some((r, moved)) = st.queue.pop_front() {
            let dc = wants_dc(r.site);
            let socket = match &self.sites[s].sockets {
                Sockets::Private(spec) => Some((usize::MAX, *spec)),
                Sockets::Shared(v) => (0..v.len())
                    .filter(|&i| st.free[i] && v[i].dc == dc)
                    .max_by(|&a, &b| v[a].kw.total_cmp(&v[b].kw))
                    .map(|i| (i, v[i])),
            };
            match socket {
                Some((i, spec)) => {
                    if let Some(f) = st.free.get_mut(i) {
                        *f = false;
                    }
                    st.plugged.push(Active {
                        socket: spec,
                        socket_index: i,
                        soc: r.soc,
                        remaining_kwh: r.energy_kwh,
                        depart_h: r.arrival_h + r.dwell_h,
                        capped: false,
                        power_kw: 0.0,
                        req: r,
                    });
                }
                None => waiting.push_back((r, moved)),
            }
        }
        st.queue = waiting;
    }
}

fn cap_sessions(sessions: &mut [&mut Active], cap: f64, sharing: Sharing) {
    let want: Vec<f64> = sessions.iter().map(|a| a.power_kw).collect();
    if want.iter().sum::<f64>() <= cap + 1e-9 {
        return;
    }
    let deadline: Vec<f64> = sessions.iter().map(|a| a.depart_h).collect();
    let got = share_power(&want, &deadline, cap, sharing);
    for (a, p) in sessions.iter_mut().zip(got) {
        if p < a.power_kw - 1e-9 {
            a.capped = true;
        }
        a.power_kw = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ev::vehicles::{DACIA_SPRING, RENAULT_MEGANE_E_TECH};

    fn request(site: SiteType, arrival_h: f64, dwell_h: f64, energy_kwh: f64) -> ChargeRequest {
        ChargeRequest {
            vehicle: 0,
            model: &RENAULT_MEGANE_E_TECH,
            site,
            arrival_h,
            dwell_h,
            soc: 0.3,
            energy_kwh,
        }
    }

    fn site(sockets: Sockets, cap_kw: Option<f64>) -> SiteSpec {
        SiteSpec {
            name: "s".into(),
            post: 0,
            sockets,
            patience_h: 0.25,
            cap_kw,
        }
    }

    #[test]
    fn shares_respect_the_cap_and_the_order() {
        let want = [10.0, 10.0, 10.0];
        let deadline = [3.0, 1.0, 2.0];
        assert_eq!(
            share_power(&want, &deadline, 15.0, Sharing::EarliestDeadline),
            [0.0, 10.0, 5.0]
        );
        assert_eq!(
            share_power(&[2.0, 10.0, 10.0], &deadline, 12.0, Sharing::FairShare),
            [2.0, 5.0, 5.0]
        );
        assert_eq!(
            share_power(&want, &deadline, 40.0, Sharing::FairShare),
            want
        );
        assert_eq!(
            share_power(&want, &deadline, -1.0, Sharing::FairShare),
            [0.0; 3]
        );
    }

    #[test]
    fn energy_is_conserved_and_the_queue_leaves_when_patience_runs_out() {
        // One 22 kW AC socket; three cars arrive together wanting 11 kWh each for 2 hours.
        let sockets = Sockets::Shared(vec![SocketSpec {
            kw: 22.0,
            dc: false,
        }]);
        let mut sim = ChargingSim::new(
            vec![site(sockets, None)],
            1,
            0.25,
            Sharing::EarliestDeadline,
        );
        sim.add((0..3).map(|_| (0, request(SiteType::PublicAc, 0.0, 2.0, 11.0))));
        let mut loads = Vec::new();
        for k in 0..12 {
            loads.push(sim.step(k, None)[0]);
        }
        let t = sim.totals().clone();
        // The first car charges at the car's 22 kW for half an hour; the others give up.
        assert_eq!(loads[0], 22.0);
        assert_eq!(loads[1], 22.0);
        assert_eq!(loads[2], 0.0);
        assert_eq!(t.left_without_socket, 2);
        assert!((t.delivered_kwh - 11.0).abs() < 1e-9);
        assert!((t.unmet.no_socket_kwh - 22.0).abs() < 1e-9);
        assert!(
            (t.requested_kwh - t.delivered_kwh - t.unmet.total()).abs() < 1e-9,
            "{t:?}"
        );
        // The socket was occupied for the whole 2-hour stay of the first car out of 3 hours.
        assert!((t.occupied_h[0] / t.available_h[0] - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_post_cap_holds_the_load_and_the_shortfall_is_counted_as_capped() {
        let home = Sockets::Private(SocketSpec { kw: 7.4, dc: false });
        let mut sim = ChargingSim::new(vec![site(home, None)], 1, 0.25, Sharing::EarliestDeadline);
        let mut spring = request(SiteType::Home, 0.0, 1.0, 20.0);
        spring.model = &DACIA_SPRING;
        sim.add(
            (0..4)
                .map(|k| (0, request(SiteType::Home, 0.0, 1.0 + f64::from(k), 20.0)))
                .chain([(0, spring)]),
        );
        let mut max_load: f64 = 0.0;
        for k in 0..24 {
            max_load = max_load.max(sim.step(k, Some(&[15.0]))[0]);
        }
        assert!(max_load <= 15.0 + 1e-9 && max_load > 14.9);
        let t = sim.totals();
        assert!(t.unmet.capped_kwh > 0.0, "{t:?}");
        assert!(
            (t.requested_kwh - t.delivered_kwh - t.unmet.total()).abs() < 1e-9,
            "{t:?}"
        );
        // Without the cap every car gets its 7.4 kW (the Spring its 7 kW) and only the short
        // stays miss energy.
        let home = Sockets::Private(SocketSpec { kw: 7.4, dc: false });
        let mut free = ChargingSim::new(vec![site(home, None)], 1, 0.25, Sharing::EarliestDeadline);
        free.add(
            (0..4)
                .map(|k| (0, request(SiteType::Home, 0.0, 1.0 + f64::from(k), 20.0)))
                .chain([(0, spring)]),
        );
        assert!((free.step(0, None)[0] - (4.0 * 7.4 + 7.0)).abs() < 1e-9);
        for k in 1..24 {
            free.step(k, None);
        }
        assert_eq!(free.totals().unmet.capped_kwh, 0.0);
        assert!(free.totals().unmet.short_stay_kwh > 0.0);
    }

    #[test]
    fn a_car_that_gives_up_tries_a_free_site_once() {
        let one = || {
            Sockets::Shared(vec![SocketSpec {
                kw: 22.0,
                dc: false,
            }])
        };
        let sites = vec![site(one(), None), site(one(), None), site(one(), None)];
        let mut sim = ChargingSim::new(sites, 1, 0.25, Sharing::EarliestDeadline)
            .with_alternatives(vec![0, 1, 2]);
        // Site 2 is taken for the whole time; three cars come to site 0 (one socket).
        sim.add([(2, request(SiteType::PublicAc, 0.0, 4.0, 11.0))]);
        sim.add((0..3).map(|_| (0, request(SiteType::PublicAc, 0.0, 4.0, 11.0))));
        for k in 0..20 {
            sim.step(k, None);
        }
        let t = sim.totals();
        // One charges at site 0; after 15 min of waiting one moves to site 1 (free) and the
        // other finds nothing free (site 2 busy, site 1 taken) and leaves.
        assert_eq!(t.moved_to_another_site, 1);
        assert_eq!(t.left_without_socket, 1);
        assert!((t.site_kwh[1] - 11.0).abs() < 1e-9, "{t:?}");
        assert!((t.requested_kwh - t.delivered_kwh - t.unmet.total()).abs() < 1e-9);
        // Without alternatives both wait and leave.
        let sites = vec![site(one(), None), site(one(), None)];
        let mut alone = ChargingSim::new(sites, 1, 0.25, Sharing::EarliestDeadline);
        alone.add((0..3).map(|_| (0, request(SiteType::PublicAc, 0.0, 4.0, 11.0))));
        for k in 0..20 {
            alone.step(k, None);
        }
        assert_eq!(alone.totals().left_without_socket, 2);
    }

    #[test]
    fn dc_cars_use_dc_sockets_and_taper() {
        let sockets = Sockets::Shared(vec![
            SocketSpec {
                kw: 22.0,
                dc: false,
            },
            SocketSpec {
                kw: 150.0,
                dc: true,
            },
        ]);
        let mut sim = ChargingSim::new(vec![site(sockets, None)], 1, 0.25, Sharing::FairShare);
        let mut r = request(SiteType::FastHub, 0.0, 1.0, 40.0);
        r.soc = 0.2;
        sim.add([(0, r)]);
        let first = sim.step(0, None)[0];
        assert_eq!(first, 130.0, "the Megane's DC peak");
        assert_eq!(sim.socket_powers(0), [None, Some(130.0)]);
        let second = sim.step(1, None)[0];
        assert!(second < first, "tapering as the battery fills: {second}");
    }
}
