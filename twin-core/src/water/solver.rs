//! The Global Gradient Algorithm and the extended-period loop.
//!
//! Each Newton iteration linearises every link around its flow (p = 1/h'(q), y = h(q)/h'(q)),
//! solves the symmetric system A·H = F for junction heads, and updates flows
//! q ← q − y + p·(H_from − H_to). Pumps and check valves change status as EPANET's do; closed
//! links carry a tiny conductance. Over time, tanks fill and drain with the flows of each step,
//! steps shorten to when a tank reaches a control level, fills or empties, or a pattern changes.

use super::model::{Condition, HydModel, LinkKind, M_PER_FT, M3S_PER_CFS, ModelError, NodeKind};
use super::sparse_ldl::SparseLdl;
use crate::formats::epanet::{EpanetNetwork, HeadLossFormula};

const CBIG: f64 = 1e8;
/// Below this resistance × flow a link is treated as a linear resistance 1/RQ_TOL (as EPANET
/// does); its Newton correction is then the whole flow (y = q), so links and networks at rest
/// settle in one step instead of shrinking their flow by a constant factor per trial.
const RQ_TOL: f64 = 1e-7;
/// Convergence: the sum of flow changes over the sum of flows, EPANET's ACCURACY option
/// (default 0.001), never looser than 0.001. Tighter criteria stall on large networks at the
/// round-off floor (links near zero flow switch between the linear and power-law branches);
/// at 0.001 the Pitești network agrees with EPANET 2.2 within 0.3 mm of pressure.
const MAX_ACCURACY: f64 = 1e-3;
const MAX_TRIALS: usize = 200;
/// Head tolerance when checking statuses and controls (ft), as EPANET's Htol.
const H_TOL: f64 = 0.0005;
/// Flow below which a link is taken as stopped (cfs), as EPANET's Qtol.
const Q_TOL: f64 = 0.0001;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HydraulicError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "at {time_s} s the system is singular: part of the network has no source (check closed links near {node})"
    )]
    Singular { time_s: u64, node: String },
    #[error("at {time_s} s the hydraulics did not converge in {trials} trials")]
    NotConverged { time_s: u64, trials: usize },
}

/// The hydraulic state at one reporting time, in SI units, in the network's node and link order
/// (junctions, reservoirs, tanks; pipes, pumps, valves).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub time_s: u64,
    pub head_m: Vec<f64>,
    pub pressure_m: Vec<f64>,
    /// Demand at junctions; for reservoirs and tanks, the net inflow (negative = supplying).
    pub demand_m3s: Vec<f64>,
    pub flow_m3s: Vec<f64>,
    pub trials: usize,
    /// Junctions that no reservoir or tank reaches through open links at this time (EPANET's
    /// "Node … disconnected"): reported at zero pressure (head = elevation), and named by
    /// callers.
    pub disconnected: Vec<usize>,
}

/// What a control valve (PRV, PSV, FCV) is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValveMode {
    Active,
    Open,
    Closed,
}

struct State {
    valve: Vec<ValveMode>,
    head: Vec<f64>,
    flow: Vec<f64>,
    open: Vec<bool>,
    /// Pumps shut off because they cannot deliver the head (EPANET's XHEAD), check valves shut.
    blocked: Vec<bool>,
    /// Links closed because the tank at their end is empty (water would leave it) or full
    /// (water would enter it), as EPANET's `tankstatus`.
    tank_closed: Vec<bool>,
    /// Per node: the emitter's outflow (cfs).
    emitter_flow: Vec<f64>,
    /// Per node, under pressure-driven demand: the demand delivered (cfs).
    demand_flow: Vec<f64>,
    tank_level: Vec<f64>,
}

/// (p, y) of link `k` at flow `q`, open.
fn coefficients(m: &HydModel, k: usize, q: f64) -> (f64, f64) {
    let link = &m.links[k];
    let aq = q.abs();
    match &link.kind {
        LinkKind::Pipe {
            r,
            m: ml,
            dw_roughness,
            length,
            ..
        } => {
            if let (HeadLossFormula::DarcyWeisbach, Some(e)) = (m.formula, dw_roughness) {
                let f = darcy_friction(aq, link.diameter, *e);
                // EPANET 2.2 `resistcoeff`: L / (2·g·D·A²) with g = 32.2 ft/s², i.e. 8·L / (g·π²·D⁵).
                let r1 = f * 8.0 / (32.2 * std::f64::consts::PI * std::f64::consts::PI) * length
                    / link.diameter.powi(5)
                    + ml;
                if r1 * aq < RQ_TOL {
                    return (1.0 / RQ_TOL, q);
                }
                let hgrad = 2.0 * r1 * aq;
                let p = 1.0 / hgrad;
                return (p, p * r1 * aq * q);
            }
            if (r + ml) * aq < RQ_TOL {
                return (1.0 / RQ_TOL, q);
            }
            let mut hgrad = 1.852 * r * aq.powf(0.852);
            let mut hloss = r * aq.powf(1.852);
            if *ml > 0.0 {
                hloss += ml * aq * aq;
                hgrad += 2.0 * ml * aq;
            }
            let p = 1.0 / hgrad;
            (p, p * hloss * q.signum())
        }
        LinkKind::Tcv { m: ml }
        | LinkKind::Prv { m: ml, .. }
        | LinkKind::Psv { m: ml, .. }
        | LinkKind::Fcv { m: ml, .. } => {
            if ml * aq < RQ_TOL {
                return (1.0 / RQ_TOL, q);
            }
            let p = 1.0 / (2.0 * ml * aq);
            (p, p * ml * aq * q)
        }
        LinkKind::PumpCurve { points, speed } => {
            // The segment holding q/speed, scaled by the affinity laws: h0·s² + slope·s·q.
            let (h0, slope) = curve_segment(points, aq / speed.max(1e-9));
            let (h0, slope) = (h0 * speed * speed, slope * speed);
            let grad = (-slope).max(RQ_TOL);
            let p = 1.0 / grad;
            // Head loss from `from` to `to` is −(h0 + slope·q).
            (p, p * -(h0 + slope * q))
        }
        LinkKind::PumpPower { c } => {
            // Head loss −c/q, its gradient c/q² (flows kept positive, as EPANET does).
            let qq = q.max(1e-6);
            let p = qq * qq / c;
            (p, p * (-c / qq))
        }
        LinkKind::Pump { h0, r, n, speed } => {
            let h0 = h0 * speed * speed;
            let r = r * speed.powf(2.0 - n);
            let qq = aq.max(1e-6);
            let grad = (n * r * qq.powf(n - 1.0)).max(RQ_TOL);
            let p = 1.0 / grad;
            // Head loss from `from` to `to` is −(h0 − r·q^n).
            (p, p * (r * qq.powf(*n) - h0))
        }
    }
}

/// The straight line through the segment of `points` (flow, head) that holds flow `q`, extended
/// beyond the first and last points: (head at zero flow, slope).
fn curve_segment(points: &[(f64, f64)], q: f64) -> (f64, f64) {
    let k = points
        .windows(2)
        .position(|w| q <= w[1].0)
        .unwrap_or(points.len() - 2);
    let ((q1, h1), (q2, h2)) = (points[k], points[k + 1]);
    let slope = (h2 - h1) / (q2 - q1);
    (h1 - slope * q1, slope)
}

/// Darcy–Weisbach friction factor: Hagen–Poiseuille when laminar, Swamee–Jain when turbulent,
/// Dunlop's cubic interpolation between Re 2000 and 4000 (EPANET 2.2).
fn darcy_friction(q_cfs: f64, d_ft: f64, e_ft: f64) -> f64 {
    const VISCOSITY: f64 = 1.1e-5; // ft²/s at 20 °C
    let velocity = q_cfs / (std::f64::consts::PI * d_ft * d_ft / 4.0);
    let re = (velocity * d_ft / VISCOSITY).max(1.0);
    let turbulent = |re: f64| 0.25 / ((e_ft / (3.7 * d_ft) + 5.74 / re.powf(0.9)).log10()).powi(2);
    if re < 2000.0 {
        64.0 / re
    } else if re < 4000.0 {
        // Dunlop's cubic between Hagen–Poiseuille at Re 2000 and Swamee–Jain at Re 4000, as
        // EPANET 2.2's `frictionFactor` (r = Re/2000; fa, fb the turbulent value and slope).
        const AB: f64 = 3.288_954_763_453_990_6e-3; // 5.74 / 4000^0.9
        const A9: f64 = -8.685_889_638_065_036e-1; // −2 / ln 10
        const AC: f64 = -5.142_149_657_990_939e-3; // (−2·0.9·2 / ln 10)·AB
        let y2 = e_ft / (3.7 * d_ft) + AB;
        let y3 = A9 * y2.ln();
        let fa = 1.0 / (y3 * y3);
        let fb = (2.0 + AC / (y2 * y3)) * fa;
        let r = re / 2000.0;
        let x1 = 7.0 * fa - fb;
        let x2 = 0.128 - 17.0 * fa + 2.5 * fb;
        let x3 = -0.128 + 13.0 * fa - 2.0 * fb;
        let x4 = 0.032 - 3.0 * fa + 0.5 * fb;
        x1 + r * (x2 + r * (x3 + r * x4))
    } else {
        turbulent(re)
    }
}

fn demand_at(m: &HydModel, node: usize, t: u64) -> f64 {
    if let Some(q) = m.fixed_demand[node] {
        return q;
    }
    m.demands[node]
        .iter()
        .map(|&(base, p)| base * m.pattern_factor(p, t))
        .sum::<f64>()
        * m.demand_multiplier
}

/// Solve the network at time `t` with fixed heads set; returns the number of trials.
fn solve_at(
    m: &HydModel,
    s: &mut State,
    sys: &mut SparseLdl,
    unknown: &[Option<usize>],
    t: u64,
) -> Result<usize, HydraulicError> {
    let nj = sys_size(unknown);
    let mut rhs = vec![0.0; nj];
    // Per-trial buffers, allocated once per solve.
    let mut py = vec![(0.0, 0.0); m.links.len()];
    let mut emitter_py = vec![(0.0, 0.0); m.node_ids.len()];
    let mut demand_py = vec![(0.0, 0.0); m.node_ids.len()];
    let mut old = vec![0.0; m.links.len()];
    let demands: Vec<f64> = (0..m.node_ids.len())
        .map(|i| {
            if m.kind[i] == NodeKind::Junction {
                demand_at(m, i, t)
            } else {
                0.0
            }
        })
        .collect();
    let mut next_check = m.check_freq;
    for trial in 1..=MAX_TRIALS {
        sys.clear();
        rhs.fill(0.0);
        for (i, u) in unknown.iter().enumerate() {
            let Some(u) = *u else { continue };
            match m.pda {
                // Pressure-driven: the demand is a pseudo-link to a node at elevation + Pmin
                // (EPANET 2.2's `demandcoeffs`).
                Some(pda) if demands[i] > 0.0 => {
                    let (p, y) = pda_coefficients(&pda, demands[i], s.demand_flow[i]);
                    sys.add(u, u, p);
                    rhs[u] += p * (m.elevation[i] + pda.minimum_ft) - (s.demand_flow[i] - y);
                    demand_py[i] = (p, y);
                }
                _ => rhs[u] -= demands[i],
            }
        }
        // Emitters: a link from the junction to the atmosphere at its elevation, head loss
        // (q / C)^(1/γ) (EPANET's `emitcoeffs`).
        for (i, &c) in m.emitter.iter().enumerate() {
            let (Some(a), true) = (unknown[i], c > 0.0) else {
                continue;
            };
            let (p, y) = emitter_coefficients(c, m.emitter_exponent, s.emitter_flow[i]);
            sys.add(a, a, p);
            rhs[a] += p * m.elevation[i] - (s.emitter_flow[i] - y);
            emitter_py[i] = (p, y);
        }
        for (k, link) in m.links.iter().enumerate() {
            let active = s.open[k] && !s.tank_closed[k] && s.valve[k] == ValveMode::Active;
            let (p, y) = match (&link.kind, active) {
                // An active PRV or PSV fixes the head it holds; its flow follows from continuity.
                (LinkKind::Prv { head, .. }, true) | (LinkKind::Psv { head, .. }, true) => {
                    let held = if matches!(link.kind, LinkKind::Prv { .. }) {
                        link.to
                    } else {
                        link.from
                    };
                    if let Some(u) = unknown[held] {
                        sys.add(u, u, CBIG);
                        rhs[u] += CBIG * head;
                    }
                    (0.0, 0.0)
                }
                (LinkKind::Fcv { flow, .. }, true) => (1.0 / CBIG, s.flow[k] - flow),
                _ if !s.open[k]
                    || s.blocked[k]
                    || s.tank_closed[k]
                    || s.valve[k] == ValveMode::Closed =>
                {
                    (1.0 / CBIG, s.flow[k])
                }
                _ => coefficients(m, k, s.flow[k]),
            };
            py[k] = (p, y);
            let carry = s.flow[k] - y;
            match (unknown[link.from], unknown[link.to]) {
                (Some(a), Some(b)) => {
                    sys.add(a, a, p);
                    sys.add(b, b, p);
                    sys.add(a, b, -p);
                    rhs[a] -= carry;
                    rhs[b] += carry;
                }
                (Some(a), None) => {
                    sys.add(a, a, p);
                    rhs[a] += p * s.head[link.to] - carry;
                }
                (None, Some(b)) => {
                    sys.add(b, b, p);
                    rhs[b] += p * s.head[link.from] + carry;
                }
                (None, None) => {}
            }
        }
        // A junction touching no link would make the system singular: pin it with a tiny term.
        for u in 0..nj {
            sys.add(u, u, 1e-12);
        }
        if !sys.solve(&mut rhs) {
            let node = unknown
                .iter()
                .position(|u| u.is_some())
                .map_or_else(String::new, |i| m.node_ids[i].clone());
            return Err(HydraulicError::Singular { time_s: t, node });
        }
        for (i, u) in unknown.iter().enumerate() {
            if let Some(u) = u {
                s.head[i] = rhs[*u];
            }
        }
        let (mut dq_sum, mut q_sum) = (0.0, 0.0);
        old.copy_from_slice(&s.flow);
        for (k, link) in m.links.iter().enumerate() {
            let (p, y) = py[k];
            s.flow[k] = s.flow[k] - y + p * (s.head[link.from] - s.head[link.to]);
        }
        if let Some(pda) = m.pda {
            for (i, u) in unknown.iter().enumerate() {
                if u.is_some() && demands[i] > 0.0 {
                    let (p, y) = demand_py[i];
                    let before = s.demand_flow[i];
                    let head = s.head[i] - m.elevation[i] - pda.minimum_ft;
                    s.demand_flow[i] = before - y + p * head;
                    dq_sum += (s.demand_flow[i] - before).abs();
                    q_sum += s.demand_flow[i].abs();
                } else {
                    s.demand_flow[i] = demands[i];
                }
            }
        }
        for (i, &c) in m.emitter.iter().enumerate() {
            if c > 0.0 && unknown[i].is_some() {
                let (p, y) = emitter_py[i];
                let before = s.emitter_flow[i];
                s.emitter_flow[i] = before - y + p * (s.head[i] - m.elevation[i]);
                dq_sum += (s.emitter_flow[i] - before).abs();
                q_sum += s.emitter_flow[i].abs();
            }
        }
        // Active PRVs and PSVs carry what continuity at the node they hold requires.
        for (k, link) in m.links.iter().enumerate() {
            if !(s.open[k] && !s.tank_closed[k] && s.valve[k] == ValveMode::Active) {
                continue;
            }
            let prv = matches!(link.kind, LinkKind::Prv { .. });
            if !prv && !matches!(link.kind, LinkKind::Psv { .. }) {
                continue;
            }
            let held = if prv { link.to } else { link.from };
            let mut others_in = 0.0;
            for (j, l) in m.links.iter().enumerate() {
                if j == k {
                    continue;
                }
                if l.to == held {
                    others_in += s.flow[j];
                }
                if l.from == held {
                    others_in -= s.flow[j];
                }
            }
            let delivered = if m.pda.is_some() {
                s.demand_flow[held]
            } else {
                demands[held]
            };
            let drawn = delivered + s.emitter_flow[held];
            s.flow[k] = if prv {
                drawn - others_in
            } else {
                others_in - drawn
            };
        }
        for k in 0..m.links.len() {
            dq_sum += (s.flow[k] - old[k]).abs();
            q_sum += s.flow[k].abs();
        }
        // Status checks as EPANET 2.2's `hydsolve`: at convergence every status is checked and
        // a change continues the trials; before it, pumps, check valves and tank links are
        // checked every CHECKFREQ trials up to MAXCHECK, control valves only at convergence.
        if dq_sum <= m.accuracy.min(MAX_ACCURACY) * q_sum.max(Q_TOL) {
            let changed = update_statuses(m, s, true) | update_tank_links(m, s);
            if !changed {
                return Ok(trial);
            }
            next_check = trial + m.check_freq;
        } else if trial <= m.max_check && trial == next_check {
            update_statuses(m, s, false);
            update_tank_links(m, s);
            next_check += m.check_freq;
        }
    }
    Err(HydraulicError::NotConverged {
        time_s: t,
        trials: MAX_TRIALS,
    })
}

/// (p, y) of an emitter of coefficient `c` and exponent `gamma` at outflow `q` (cfs): head
/// loss r·|q|^n with n = 1/γ, r = c^(−n), its gradient floored at RQ_TOL as EPANET does.
fn emitter_coefficients(c: f64, gamma: f64, q: f64) -> (f64, f64) {
    let n = 1.0 / gamma;
    let r = c.powf(-n);
    let aq = q.abs();
    let hloss = r * aq.powf(n);
    let hgrad = (n * r * aq.powf(n - 1.0)).max(RQ_TOL);
    let p = 1.0 / hgrad;
    (p, p * hloss * q.signum())
}

/// (p, y) of the pressure-driven demand pseudo-link of a junction whose full demand is
/// `full` at delivered demand `d` (cfs): head loss Pmin + (Preq − Pmin)·(d/D)^(1/e) above the
/// junction's elevation, with EPANET 2.2's barriers for d < 0 and d > D (`demandheadloss`).
fn pda_coefficients(pda: &crate::water::model::PressureDriven, full: f64, d: f64) -> (f64, f64) {
    let dp = pda.required_ft - pda.minimum_ft;
    let n = 1.0 / pda.exponent;
    let r = d / full;
    let (hloss, hgrad) = if r <= 0.0 {
        (CBIG * d, CBIG)
    } else if r < 1.0 {
        let hgrad = n * dp * r.powf(n - 1.0) / full;
        if hgrad < RQ_TOL {
            (RQ_TOL * d, RQ_TOL)
        } else {
            (hgrad * d / n, hgrad)
        }
    } else {
        (dp + CBIG * (d - full), CBIG)
    };
    let p = 1.0 / hgrad;
    (p, p * hloss)
}

/// Close the links through which water would leave an empty tank or enter a full one, and
/// reopen them when the heads turn (EPANET's `tankstatus`).
fn update_tank_links(m: &HydModel, s: &mut State) -> bool {
    let mut changed = false;
    for (k_tank, tank) in m.tanks.iter().enumerate() {
        let level = s.tank_level[k_tank];
        let empty = level <= tank.min_level + H_TOL;
        let full = level >= tank.max_level - H_TOL;
        for (k, link) in m.links.iter().enumerate() {
            if !s.open[k] || (link.from != tank.node && link.to != tank.node) {
                continue;
            }
            let other = if link.from == tank.node {
                link.to
            } else {
                link.from
            };
            // Flow into the tank along this link, and the head that would drive it.
            let into_tank = if link.to == tank.node {
                s.flow[k]
            } else {
                -s.flow[k]
            };
            let drive_in = s.head[other] - s.head[tank.node];
            let closed = if s.tank_closed[k] {
                (empty && drive_in <= H_TOL) || (full && drive_in >= -H_TOL)
            } else {
                (empty && into_tank < -Q_TOL) || (full && into_tank > Q_TOL)
            };
            if closed != s.tank_closed[k] {
                s.tank_closed[k] = closed;
                changed = true;
            }
        }
    }
    changed
}

/// Junctions that no reservoir or tank reaches through links open at this moment.
fn disconnected_junctions(m: &HydModel, s: &State) -> Vec<usize> {
    let n = m.node_ids.len();
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, l) in m.links.iter().enumerate() {
        let passable =
            s.open[k] && !s.blocked[k] && !s.tank_closed[k] && s.valve[k] != ValveMode::Closed;
        if passable {
            adjacency[l.from].push(l.to);
            adjacency[l.to].push(l.from);
        }
    }
    let mut reached: Vec<bool> = m.kind.iter().map(|k| *k != NodeKind::Junction).collect();
    let mut stack: Vec<usize> = (0..n).filter(|&i| reached[i]).collect();
    while let Some(u) = stack.pop() {
        for &v in &adjacency[u] {
            if !reached[v] {
                reached[v] = true;
                stack.push(v);
            }
        }
    }
    (0..n).filter(|&i| !reached[i]).collect()
}

fn sys_size(unknown: &[Option<usize>]) -> usize {
    unknown.iter().filter(|u| u.is_some()).count()
}

/// Pumps that cannot deliver the head shut (and reopen when they can); check valves close
/// against reverse flow and reopen when the head drives flow forward again.
/// With `valves`, control valves (PRV, PSV, FCV) too.
fn update_statuses(m: &HydModel, s: &mut State, valves: bool) -> bool {
    let mut changed = false;
    for (k, link) in m.links.iter().enumerate() {
        if !s.open[k] || link.fixed_open {
            continue;
        }
        let is_valve = matches!(
            link.kind,
            LinkKind::Prv { .. } | LinkKind::Psv { .. } | LinkKind::Fcv { .. }
        );
        if is_valve && !valves {
            continue;
        }
        let dh = s.head[link.from] - s.head[link.to];
        match &link.kind {
            LinkKind::Pump { .. } | LinkKind::PumpCurve { .. } => {
                let shutoff = match &link.kind {
                    LinkKind::Pump { h0, speed, .. } => h0 * speed * speed,
                    LinkKind::PumpCurve { points, speed } => {
                        curve_segment(points, 0.0).0 * speed * speed
                    }
                    _ => f64::INFINITY,
                };
                let blocked = -dh > shutoff + H_TOL;
                if blocked != s.blocked[k] {
                    s.blocked[k] = blocked;
                    changed = true;
                }
            }
            LinkKind::Prv { head, .. }
            | LinkKind::Psv { head, .. }
            | LinkKind::Fcv { flow: head, .. } => {
                let (hup, hdn, q, head) = (s.head[link.from], s.head[link.to], s.flow[k], *head);
                let next = match (&link.kind, s.valve[k]) {
                    (LinkKind::Prv { .. }, ValveMode::Active) if q < -Q_TOL => ValveMode::Closed,
                    (LinkKind::Prv { .. }, ValveMode::Active) if hup < head - H_TOL => {
                        ValveMode::Open
                    }
                    (LinkKind::Prv { .. }, ValveMode::Open) if q < -Q_TOL => ValveMode::Closed,
                    (LinkKind::Prv { .. }, ValveMode::Open) if hdn > head + H_TOL => {
                        ValveMode::Active
                    }
                    (LinkKind::Prv { .. }, ValveMode::Closed)
                        if hup >= head + H_TOL && hdn < head - H_TOL =>
                    {
                        ValveMode::Active
                    }
                    (LinkKind::Prv { .. }, ValveMode::Closed)
                        if hup < head - H_TOL && hup > hdn + H_TOL =>
                    {
                        ValveMode::Open
                    }
                    (LinkKind::Psv { .. }, ValveMode::Active) if q < -Q_TOL => ValveMode::Closed,
                    (LinkKind::Psv { .. }, ValveMode::Active) if hdn > head + H_TOL => {
                        ValveMode::Open
                    }
                    (LinkKind::Psv { .. }, ValveMode::Open) if q < -Q_TOL => ValveMode::Closed,
                    (LinkKind::Psv { .. }, ValveMode::Open) if hup < head - H_TOL => {
                        ValveMode::Active
                    }
                    (LinkKind::Psv { .. }, ValveMode::Closed)
                        if hup > head + H_TOL && hdn < head - H_TOL =>
                    {
                        ValveMode::Active
                    }
                    (LinkKind::Psv { .. }, ValveMode::Closed)
                        if hdn > head + H_TOL && hup > hdn + H_TOL =>
                    {
                        ValveMode::Open
                    }
                    // An FCV that cannot hold its flow (head reversed) opens fully until it can.
                    (LinkKind::Fcv { .. }, ValveMode::Active) if hup < hdn - H_TOL => {
                        ValveMode::Open
                    }
                    (LinkKind::Fcv { .. }, ValveMode::Open) if q >= head => ValveMode::Active,
                    (_, mode) => mode,
                };
                if next != s.valve[k] {
                    s.valve[k] = next;
                    changed = true;
                }
            }
            LinkKind::Pipe {
                check_valve: true, ..
            } => {
                let blocked = if s.blocked[k] {
                    dh < -H_TOL
                } else {
                    s.flow[k] < -Q_TOL
                };
                if blocked != s.blocked[k] {
                    s.blocked[k] = blocked;
                    changed = true;
                }
            }
            _ => {}
        }
    }
    changed
}

fn apply_controls(m: &HydModel, s: &mut State, t: u64) {
    for c in &m.controls {
        let fire = match c.condition {
            Condition::Time(at) => at == t,
            Condition::Grade { node, above, grade } => {
                if above {
                    s.head[node] >= grade - H_TOL
                } else {
                    s.head[node] <= grade + H_TOL
                }
            }
        };
        if fire {
            if c.open && !s.open[c.link] {
                // A link opened by a control starts from its initial flow, as EPANET restarts
                // a pump at its design flow: from the closed link's near-zero flow a
                // constant-power pump's linearisation would barely move.
                s.flow[c.link] = initial_flow(m, c.link);
            }
            s.open[c.link] = c.open;
            if c.open {
                s.blocked[c.link] = false;
            }
        }
    }
}

/// A link's starting flow (cfs): EPANET starts pipes and valves at 1 ft/s and pumps at their
/// design flow (the middle of a multi-point curve; 1 cfs for a constant-power pump).
fn initial_flow(m: &HydModel, k: usize) -> f64 {
    let l = &m.links[k];
    match &l.kind {
        LinkKind::Pump { h0, r, n, .. } => (((h0 - 0.75 * h0) / r).powf(1.0 / n)).max(1e-3),
        LinkKind::PumpCurve { points, .. } => points[points.len() / 2].0.max(1e-3),
        LinkKind::PumpPower { .. } => 1.0,
        _ => std::f64::consts::PI * l.diameter * l.diameter / 4.0,
    }
}

/// Run the network from t = 0 to `duration_s` (the file's DURATION when `None`), reporting at
/// every report step. With a duration of 0, one steady state at t = 0.
pub fn simulate(
    net: &EpanetNetwork,
    duration_s: Option<u64>,
) -> Result<Vec<Snapshot>, HydraulicError> {
    simulate_model(&HydModel::from_epanet(net)?, duration_s)
}

/// [`simulate`] on a model whose state the caller has set (demands held, links closed:
/// [`HydModel::set_fixed_demand`], [`HydModel::close_link`]) rather than on the file.
pub fn simulate_model(
    m: &HydModel,
    duration_s: Option<u64>,
) -> Result<Vec<Snapshot>, HydraulicError> {
    let duration = duration_s.unwrap_or(m.duration_s);
    let mut unknown = vec![None; m.node_ids.len()];
    let mut count = 0;
    for (i, k) in m.kind.iter().enumerate() {
        if *k == NodeKind::Junction {
            unknown[i] = Some(count);
            count += 1;
        }
    }
    let edges: Vec<(usize, usize)> = m
        .links
        .iter()
        .filter_map(|l| Some((unknown[l.from]?, unknown[l.to]?)))
        .collect();
    let mut sys = SparseLdl::new(count, &edges);
    let mut s = State {
        head: m.fixed_head.clone(),
        flow: (0..m.links.len()).map(|k| initial_flow(m, k)).collect(),
        open: m.links.iter().map(|l| l.open).collect(),
        blocked: vec![false; m.links.len()],
        tank_closed: vec![false; m.links.len()],
        // Pressure-driven demands start at the full demand; set per time in `solve_at`.
        demand_flow: (0..m.node_ids.len()).map(|i| demand_at(m, i, 0)).collect(),
        // EPANET starts emitters at 1 cfs.
        emitter_flow: m
            .emitter
            .iter()
            .map(|&c| if c > 0.0 { 1.0 } else { 0.0 })
            .collect(),
        valve: m
            .links
            .iter()
            .map(|l| {
                if l.fixed_open {
                    ValveMode::Open
                } else {
                    ValveMode::Active
                }
            })
            .collect(),
        tank_level: m.tanks.iter().map(|t| t.init_level).collect(),
    };
    for (i, h) in s.head.iter_mut().enumerate() {
        if m.kind[i] == NodeKind::Junction {
            *h = m.elevation[i];
        }
    }
    let mut out = Vec::new();
    let mut t = 0u64;
    loop {
        // Fixed heads at t: reservoirs by pattern, tanks by level.
        for i in 0..m.node_ids.len() {
            if m.kind[i] == NodeKind::Reservoir {
                s.head[i] = m.fixed_head[i] * m.pattern_factor(m.head_pattern[i], t);
            }
        }
        for (k, tank) in m.tanks.iter().enumerate() {
            s.head[tank.node] = m.elevation[tank.node] + s.tank_level[k];
        }
        apply_controls(m, &mut s, t);
        let trials = solve_at(m, &mut s, &mut sys, &unknown, t)?;
        let inflow = net_inflow(m, &s);
        if t.is_multiple_of(m.report_step_s) {
            out.push(snapshot(m, &s, &inflow, t, trials));
        }
        if t >= duration {
            break;
        }
        // Next step: the hydraulic step, shortened to the next pattern change or report time,
        // a tank filling or emptying, or a tank reaching a control level.
        let mut step = m.hydraulic_step_s - t % m.hydraulic_step_s;
        step = step.min(m.pattern_step_s - (t + m.pattern_start_s) % m.pattern_step_s);
        step = step.min(m.report_step_s - t % m.report_step_s);
        step = step.min(duration - t);
        for (k, tank) in m.tanks.iter().enumerate() {
            let q = inflow[tank.node];
            if q.abs() <= Q_TOL {
                continue;
            }
            let mut targets = vec![if q > 0.0 {
                tank.max_level
            } else {
                tank.min_level
            }];
            for c in &m.controls {
                if let Condition::Grade { node, above, grade } = c.condition {
                    let link_state_differs = s.open[c.link] != c.open;
                    if node == tank.node
                        && link_state_differs
                        && ((above && q > 0.0) || (!above && q < 0.0))
                    {
                        targets.push(grade - m.elevation[tank.node]);
                    }
                }
            }
            for level in targets {
                let seconds = ((level - s.tank_level[k]) * tank.area / q).round();
                if seconds > 0.0 && (seconds as u64) < step {
                    step = seconds as u64;
                }
            }
        }
        let step = step.max(1);
        for (k, tank) in m.tanks.iter().enumerate() {
            let q = inflow[tank.node];
            s.tank_level[k] = (s.tank_level[k] + q * step as f64 / tank.area)
                .clamp(tank.min_level, tank.max_level);
        }
        t += step;
    }
    Ok(out)
}

/// Net flow into each node from its links (cfs).
fn net_inflow(m: &HydModel, s: &State) -> Vec<f64> {
    let mut inflow = vec![0.0; m.node_ids.len()];
    for (k, l) in m.links.iter().enumerate() {
        inflow[l.to] += s.flow[k];
        inflow[l.from] -= s.flow[k];
    }
    inflow
}

fn snapshot(m: &HydModel, s: &State, inflow: &[f64], t: u64, trials: usize) -> Snapshot {
    let n = m.node_ids.len();
    let disconnected = disconnected_junctions(m, s);
    let mut snap = Snapshot {
        time_s: t,
        head_m: s.head.iter().map(|h| h * M_PER_FT).collect(),
        pressure_m: (0..n)
            .map(|i| match m.kind[i] {
                NodeKind::Reservoir => 0.0,
                _ => (s.head[i] - m.elevation[i]) * M_PER_FT,
            })
            .collect(),
        demand_m3s: (0..n)
            .map(|i| match m.kind[i] {
                // A junction's demand is what it receives (pressure-driven: the delivered
                // demand) plus its emitter's outflow, as EPANET reports it.
                NodeKind::Junction => {
                    let delivered = if m.pda.is_some() {
                        s.demand_flow[i]
                    } else {
                        demand_at(m, i, t)
                    };
                    (delivered + s.emitter_flow[i]) * M3S_PER_CFS
                }
                _ => inflow[i] * M3S_PER_CFS,
            })
            .collect(),
        flow_m3s: s
            .flow
            .iter()
            .enumerate()
            .map(|(k, q)| {
                if s.open[k] && !s.blocked[k] && !s.tank_closed[k] {
                    q * M3S_PER_CFS
                } else {
                    0.0
                }
            })
            .collect(),
        trials,
        disconnected: Vec::new(),
    };
    // A cut-off junction has no head of its own: reported at zero pressure (its elevation),
    // never the solver's placeholder.
    for &i in &disconnected {
        snap.head_m[i] = m.elevation[i] * M_PER_FT;
        snap.pressure_m[i] = 0.0;
    }
    snap.disconnected = disconnected;
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(name: &str) -> EpanetNetwork {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/field")
            .join(name);
        EpanetNetwork::parse(&std::fs::read_to_string(path).expect("field file")).expect("parses")
    }

    fn at(net: &EpanetNetwork, snap: &Snapshot, node: &str) -> f64 {
        let i = net
            .node_ids()
            .iter()
            .position(|n| *n == node)
            .expect("node");
        snap.head_m[i]
    }

    fn flow_l_s(net: &EpanetNetwork, snap: &Snapshot, link: &str) -> f64 {
        let k = net
            .link_ids()
            .iter()
            .position(|l| *l == link)
            .expect("link");
        snap.flow_m3s[k] * 1000.0
    }

    /// data/field/epanet-status-open-valve-pump-speed.inp: `[STATUS] V1 OPEN` fixes the PRV
    /// open and `PU1 0.8` runs the pump at 80 % speed (EPANET 2.2: J2 99.200, J3 98.945,
    /// J4 36.633 m).
    #[test]
    fn status_lines_fix_a_valve_open_and_set_a_pump_speed_as_epanet() {
        let net = field("epanet-status-open-valve-pump-speed.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        for (node, head) in [("J2", 99.200), ("J3", 98.945), ("J4", 36.633)] {
            assert!(
                (at(&net, &s, node) - head).abs() < 2e-3,
                "{node}: {}",
                at(&net, &s, node)
            );
        }
    }

    /// data/field/epanet-tank-runs-dry.inp: the tank empties at 1036 s; from then its outlet
    /// is closed and the reservoir supplies J1 (EPANET 2.2: J1 18.867 m, P2 0, P3 10 l/s).
    #[test]
    fn an_empty_tank_stops_supplying_as_epanet() {
        let net = field("epanet-tank-runs-dry.inp");
        let snaps = simulate(&net, Some(3 * 3600)).unwrap();
        let first = &snaps[0];
        assert!(
            (at(&net, first, "J1") - 29.998).abs() < 2e-3,
            "{}",
            at(&net, first, "J1")
        );
        assert!((flow_l_s(&net, first, "P2") - 18.954).abs() < 2e-3);
        for s in snaps.iter().filter(|s| s.time_s >= 3600) {
            assert!(
                (at(&net, s, "J1") - 18.867).abs() < 2e-3,
                "t {}: {}",
                s.time_s,
                at(&net, s, "J1")
            );
            assert!(flow_l_s(&net, s, "P2").abs() < 1e-6);
            assert!((flow_l_s(&net, s, "P3") - 10.0).abs() < 1e-3);
        }
    }

    /// data/field/epanet-closed-off-demand.inp and epanet-unconnected-node.inp: a junction
    /// behind a closed pipe is reported disconnected, one no link touches is refused (EPANET
    /// 2.2: a warning naming J3; error 233).
    #[test]
    fn cut_off_and_unconnected_junctions_are_named() {
        let net = field("epanet-closed-off-demand.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        let j3 = net.node_ids().iter().position(|n| *n == "J3").unwrap();
        assert_eq!(s.disconnected, vec![j3]);
        assert_eq!(s.pressure_m[j3], 0.0);
        assert!((at(&net, &s, "J1") - 59.471).abs() < 2e-3);
        assert!((at(&net, &s, "J2") - 58.679).abs() < 2e-3);
        let err = simulate(&field("epanet-unconnected-node.inp"), Some(0)).unwrap_err();
        assert!(
            err.to_string().contains("node J9 is connected to no link"),
            "{err}"
        );
    }

    /// data/field/epanet-emitter-leak-cmh.inp: a leak as an emitter of 4 m³/h at 1 m (CMH):
    /// EPANET 2.2 gives 23.878 m³/h through P3, J2 46.490 m, J3 41.635 m.
    #[test]
    fn an_emitter_leaks_as_epanet() {
        let net = field("epanet-emitter-leak-cmh.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        assert!(
            (flow_l_s(&net, &s, "P3") * 3.6 - 23.878).abs() < 0.01,
            "{}",
            flow_l_s(&net, &s, "P3") * 3.6
        );
        assert!((at(&net, &s, "J2") - 46.490).abs() < 0.01);
        assert!((at(&net, &s, "J3") - 41.635).abs() < 0.01);
    }

    /// data/field/epanet-pressure-driven-demand.inp: `DEMAND MODEL PDA` on a feeder too weak
    /// for its demands. EPANET 2.2 (through WNTR): J1 20.0441 m receiving 14.1733 l/s of 20,
    /// J2 15.5020 m receiving 1.5843 l/s of 10.
    #[test]
    fn pressure_driven_demand_as_epanet() {
        let net = field("epanet-pressure-driven-demand.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        assert!(
            (at(&net, &s, "J1") - 20.0441).abs() < 1e-3,
            "{}",
            at(&net, &s, "J1")
        );
        assert!(
            (at(&net, &s, "J2") - 15.5020).abs() < 1e-3,
            "{}",
            at(&net, &s, "J2")
        );
        assert!(
            (s.demand_m3s[0] * 1000.0 - 14.1733).abs() < 1e-3,
            "{}",
            s.demand_m3s[0]
        );
        assert!(
            (s.demand_m3s[1] * 1000.0 - 1.5843).abs() < 1e-3,
            "{}",
            s.demand_m3s[1]
        );
        assert!((flow_l_s(&net, &s, "P1") - 15.7576).abs() < 1e-3);
    }

    /// data/field/epanet-darcy-transitional.inp: Darcy–Weisbach at Re ≈ 1,500, 3,000 and
    /// 20,000. EPANET 2.2 (through WNTR): JL 9.95927, JT 9.87054, JF 4.90524 m.
    #[test]
    fn darcy_weisbach_in_every_flow_regime_as_epanet() {
        let net = field("epanet-darcy-transitional.inp");
        let s = simulate(&net, Some(0)).unwrap().remove(0);
        for (node, head) in [("JL", 9.95927), ("JT", 9.87054), ("JF", 4.90524)] {
            assert!(
                (at(&net, &s, node) - head).abs() < 1e-4,
                "{node}: {}",
                at(&net, &s, node)
            );
        }
    }

    /// The model's operations give the answer of the same change written into the file.
    #[test]
    fn a_closed_link_and_a_held_demand_on_the_model_solve_as_the_edited_file() {
        let text = include_str!("../../../data/water/Net1.inp");
        let net = EpanetNetwork::parse(text).unwrap();
        let mut model = HydModel::from_epanet(&net).unwrap();
        model.close_link(model.link_index("12").unwrap());
        let node = model.node_index("11").unwrap();
        // Junction 11's demand held at twice its file value (150 GPM; Net1 has no demand
        // pattern on junctions at t = 0 other than pattern 1's first factor, 1.0).
        let twice = 2.0 * model.base_demand_m3s(node) * model.pattern_factor(Some(0), 0);
        model.set_fixed_demand(node, twice);
        let edited = text
            .replacen(" 12              \t12              \t13              \t5280        \t10          \t100         \t0           \tOpen", " 12              \t12              \t13              \t5280        \t10          \t100         \t0           \tClosed", 1)
            .replacen(" 11              \t710         \t150 ", " 11              \t710         \t300 ", 1);
        assert_ne!(edited, text);
        let a = simulate_model(&model, Some(0)).unwrap().remove(0);
        let b = simulate(&EpanetNetwork::parse(&edited).unwrap(), Some(0))
            .unwrap()
            .remove(0);
        for (x, y) in a.head_m.iter().zip(&b.head_m) {
            assert!((x - y).abs() < 1e-6, "{x} {y}");
        }
        assert_eq!(a.flow_m3s[model.link_index("12").unwrap()], 0.0);
    }

    /// A w × h grid of junctions fed by one reservoir at a corner, as .inp text (LPS, H-W).
    fn grid_inp(
        w: usize,
        h: usize,
        demands: &[f64],
        diameters: &[f64],
        elevations: &[f64],
    ) -> String {
        let mut t = String::from("[JUNCTIONS]\n");
        for k in 0..w * h {
            t += &format!(
                "j{k} {} {}\n",
                elevations[k % elevations.len()],
                demands[k % demands.len()]
            );
        }
        t += "[RESERVOIRS]\nR 150\n[PIPES]\npR R j0 100 400 130\n";
        let mut n = 0;
        for y in 0..h {
            for x in 0..w {
                let k = y * w + x;
                for (dx, dy) in [(1, 0), (0, 1)] {
                    if x + dx < w && y + dy < h {
                        let d = diameters[n % diameters.len()];
                        t += &format!("p{n} j{k} j{} 150 {d} 120\n", (y + dy) * w + x + dx);
                        n += 1;
                    }
                }
            }
        }
        t + "[OPTIONS]\nUnits LPS\n[END]\n"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn mass_balances_at_every_junction(
            demands in proptest::collection::vec(0.0f64..5.0, 1..12),
            diameters in proptest::collection::vec(80.0f64..300.0, 1..12),
            elevations in proptest::collection::vec(10.0f64..60.0, 1..12),
            w in 2usize..6,
            h in 2usize..6,
        ) {
            let net = EpanetNetwork::parse(&grid_inp(w, h, &demands, &diameters, &elevations)).unwrap();
            let s = simulate(&net, Some(0)).unwrap().remove(0);
            let n = net.junctions.len();
            let mut balance = vec![0.0; n + 1];
            let index = |id: &str| if id == "R" { n } else { id[1..].parse::<usize>().unwrap() };
            for (k, p) in net.pipes.iter().enumerate() {
                balance[index(&p.node1)] -= s.flow_m3s[k];
                balance[index(&p.node2)] += s.flow_m3s[k];
            }
            let total: f64 = s.demand_m3s[..n].iter().sum();
            for i in 0..n {
                prop_assert!((balance[i] - s.demand_m3s[i]).abs() < 1e-7 + 1e-6 * total, "junction {i}: in − out = {} ≠ demand {}", balance[i], s.demand_m3s[i]);
            }
            // The reservoir supplies exactly the total demand.
            prop_assert!((-balance[n] - total).abs() < 1e-6 + 1e-6 * total);
            // Heads fall along the flow in every pipe carrying a noticeable share of the demand
            // (no energy from nowhere; tiny loop flows are within the 0.001 convergence criterion).
            for (k, p) in net.pipes.iter().enumerate() {
                let (a, b) = (index(&p.node1), index(&p.node2));
                let head = |i: usize| if i == n { 150.0 } else { s.head_m[i] };
                if s.flow_m3s[k].abs() > 1e-2 * total {
                    prop_assert!((head(a) - head(b)) * s.flow_m3s[k] > 0.0);
                }
            }
        }
    }
}
