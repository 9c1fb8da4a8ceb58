//! Pipe breaks: the valve segment around a broken pipe (the pipes and junctions reachable from
//! it without passing an isolation valve), the valves closed to isolate it, the junctions left
//! without supply (in the segment, or cut off from every source by the closure), and the
//! junctions whose pressure falls below a service level once the network is re-solved, and the
//! junctions whose water quality degrades (older water, chlorine below the residual) over two
//! days with the break.
//!
//! Isolation valves come from the bundle's valve layer (WNTR's convention: a valve on `link`
//! next to `node`) and from valve links tagged `isolation` in the .inp.

use std::collections::{HashMap, HashSet, VecDeque};

use super::model::HydModel;
use super::solver::{HydraulicError, simulate_model};
use crate::formats::epanet::EpanetNetwork;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IsolationError {
    #[error("`{0}` is not a pipe of the water network")]
    NotAPipe(String),
    #[error(transparent)]
    Hydraulics(#[from] HydraulicError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipeBreak {
    pub broken: String,
    /// Links drained with the broken pipe.
    pub segment_links: Vec<String>,
    /// Valves closed: `link@node` for valve-layer valves, the link id for valve links.
    pub valves_closed: Vec<String>,
    /// Junctions the break leaves without water: those in the segment and those it cuts off
    /// from every source (junctions no source reaches in the intact network are in
    /// `without_supply_before`, not here).
    pub without_supply: Vec<String>,
    /// Junctions no source reaches even in the intact network.
    pub without_supply_before: Vec<String>,
    /// Demand no longer served at the time of the break, m³/s (the demand of `without_supply`
    /// at `at_s`, patterns applied).
    pub demand_lost_m3s: f64,
    /// The time of the patterns the pressures are solved at, s from the model's start.
    pub at_s: u64,
    /// Supplied junctions the break takes below the service pressure (at or above it in the
    /// intact network at the same time), with their pressure after, m; lowest first.
    pub pressure_deficient: Vec<(String, f64)>,
    /// Supplied junctions already below the service pressure in the intact network, with
    /// their pressure before and after the break, m: not the break's doing, shown apart.
    pub pressure_deficient_before: Vec<(String, f64, f64)>,
    /// Lowest pressure of a supplied junction (None when no junction keeps any demand).
    pub min_pressure_m: Option<f64>,
    /// Supplied junctions whose water quality degrades with the break (water older by more
    /// than [`AGE_RISE_H`], or free chlorine falling below [`LOW_CHLORINE_MG_L`]), after
    /// [`QUALITY_HORIZON_H`] hours with and without it; worst first.
    pub quality_degraded: Vec<QualityChange>,
    /// Why water quality could not be compared (the extended-period run with or without the
    /// break failed); `quality_degraded` is then empty and means nothing.
    pub quality_not_assessed: Option<String>,
}

/// How a junction's water changes with a break (age in hours; chlorine in mg/L when the
/// network simulates a chemical).
#[derive(Debug, Clone, PartialEq)]
pub struct QualityChange {
    pub junction: String,
    pub age_before_h: f64,
    pub age_after_h: f64,
    pub chlorine_before: Option<f64>,
    pub chlorine_after: Option<f64>,
}

/// Hours simulated to compare water quality with and without a break.
pub const QUALITY_HORIZON_H: u64 = 48;
/// A rise in water age that counts as degraded water (h): stale water loses its disinfectant
/// and grows biofilm; six hours is a quarter of a typical day's turnover.
pub const AGE_RISE_H: f64 = 6.0;
/// Free chlorine below which water counts as degraded (mg/L; WHO Guidelines for Drinking-water
/// Quality, 4th ed.: 0.2 mg/L at the point of delivery).
pub const LOW_CHLORINE_MG_L: f64 = 0.2;

/// Water age and, when the model simulates a chemical, its concentration per node after
/// [`QUALITY_HORIZON_H`] hours of model `m`.
fn quality_after_horizon(m: &HydModel) -> Result<(Vec<f64>, Option<Vec<f64>>), HydraulicError> {
    use super::model::quality::{QualityKind, QualityModel};
    let horizon = Some(QUALITY_HORIZON_H * 3600);
    let chemical = match &m.quality {
        Some(q) if matches!(q.kind, QualityKind::Chemical { .. }) => {
            let run = super::solver::run(m, horizon)?;
            run.snapshots.last().map(|s| s.quality.clone())
        }
        _ => None,
    };
    let mut aged = m.clone();
    aged.quality = Some(QualityModel::water_age(m, m.quality.as_ref()));
    let run = super::solver::run(&aged, horizon)?;
    let age = run
        .snapshots
        .last()
        .map(|s| s.quality.clone())
        .unwrap_or_default();
    Ok((age, chemical))
}

/// Isolate a broken pipe and re-solve the network with the demands of time `at_s` (s from the
/// model's start, patterns applied: a steady state, tanks at their initial levels), beside the
/// intact network at the same time, so that only what the break changes is booked to it.
pub fn isolate_pipe_break(
    net: &EpanetNetwork,
    valves: &[(String, String)],
    broken: &str,
    service_pressure_m: f64,
    at_s: u64,
) -> Result<PipeBreak, IsolationError> {
    if !net.pipes.iter().any(|p| p.id == broken) {
        return Err(IsolationError::NotAPipe(broken.to_string()));
    }
    let links: Vec<(&str, &str, &str)> = net
        .pipes
        .iter()
        .map(|p| (p.id.as_str(), p.node1.as_str(), p.node2.as_str()))
        .chain(
            net.pumps
                .iter()
                .map(|p| (p.id.as_str(), p.node1.as_str(), p.node2.as_str())),
        )
        .chain(
            net.valves
                .iter()
                .map(|v| (v.id.as_str(), v.node1.as_str(), v.node2.as_str())),
        )
        .collect();
    let mut incident: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, (_, a, b)) in links.iter().enumerate() {
        incident.entry(a).or_default().push(k);
        incident.entry(b).or_default().push(k);
    }
    let valve_at: HashSet<(&str, &str)> = valves
        .iter()
        .map(|(l, n)| (l.as_str(), n.as_str()))
        .collect();
    // Valve links that close off a segment: tagged `isolation` in the .inp, or named (on
    // their own, rather than on a pipe) in the valve layer.
    let valve_link: HashSet<&str> = net
        .tags
        .iter()
        .filter(|(kind, _, tag)| kind == "LINK" && tag == "isolation")
        .map(|(_, id, _)| id.as_str())
        .chain(
            valves
                .iter()
                .filter(|(l, _)| net.valves.iter().any(|v| &v.id == l))
                .map(|(l, _)| l.as_str()),
        )
        .collect();

    // Grow the segment from the broken pipe, stopping at valves.
    let start = links
        .iter()
        .position(|l| l.0 == broken)
        .expect("checked above");
    let mut in_segment = vec![false; links.len()];
    let mut node_in_segment: HashSet<&str> = HashSet::new();
    let mut closed_valves: Vec<String> = Vec::new();
    let mut queue = VecDeque::from([start]);
    in_segment[start] = true;
    while let Some(k) = queue.pop_front() {
        let (id, a, b) = links[k];
        for n in [a, b] {
            if valve_at.contains(&(id, n)) {
                closed_valves.push(format!("{id}@{n}"));
                continue;
            }
            if !node_in_segment.insert(n) {
                continue;
            }
            for &j in incident.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                let (jid, _, _) = links[j];
                if in_segment[j] {
                    continue;
                }
                if valve_link.contains(jid) {
                    closed_valves.push(jid.to_string());
                    continue;
                }
                if valve_at.contains(&(jid, n)) {
                    closed_valves.push(format!("{jid}@{n}"));
                    continue;
                }
                in_segment[j] = true;
                queue.push_back(j);
            }
        }
    }
    closed_valves.sort();
    closed_valves.dedup();

    // The network after isolation, as a model: segment links and closed valve links shut,
    // junctions without supply at zero demand. The network file stays as it is.
    let intact = HydModel::from_epanet(net).map_err(HydraulicError::from)?;
    let mut after = intact.clone();
    let mut shut: HashSet<&str> = links
        .iter()
        .enumerate()
        .filter(|(k, _)| in_segment[*k])
        .map(|(_, l)| l.0)
        .collect();
    for v in &closed_valves {
        if !v.contains('@') {
            shut.insert(links.iter().find(|l| l.0 == v).map(|l| l.0).unwrap_or(""));
        }
    }
    for id in &shut {
        if let Some(k) = after.link_index(id) {
            after.close_link(k);
        }
    }
    let initially_closed: HashSet<&str> = net
        .pipes
        .iter()
        .filter(|p| p.status.eq_ignore_ascii_case("closed"))
        .map(|p| p.id.as_str())
        .chain(
            net.status
                .iter()
                .filter(|(_, s)| s.eq_ignore_ascii_case("closed"))
                .map(|(l, _)| l.as_str()),
        )
        .collect();
    // Nodes connected to a reservoir or tank through open links, with `shut` links closed.
    let supplied_with = |shut: &HashSet<&str>| -> HashSet<String> {
        let mut supplied: HashSet<&str> = net
            .reservoirs
            .iter()
            .map(|r| r.id.as_str())
            .chain(net.tanks.iter().map(|t| t.id.as_str()))
            .collect();
        let mut frontier: VecDeque<&str> = supplied.iter().copied().collect();
        while let Some(n) = frontier.pop_front() {
            for &k in incident.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                let (id, a, b) = links[k];
                if shut.contains(id) || initially_closed.contains(id) {
                    continue;
                }
                let other = if a == n { b } else { a };
                if supplied.insert(other) {
                    frontier.push_back(other);
                }
            }
        }
        supplied.into_iter().map(str::to_string).collect()
    };
    let supplied = supplied_with(&shut);
    let supplied_before = supplied_with(&HashSet::new());
    // Junctions are the model's first nodes, in the file's order.
    let mut without_supply = Vec::new();
    let mut without_supply_before = Vec::new();
    let mut demand_lost = 0.0;
    for (node, j) in net.junctions.iter().enumerate() {
        if !supplied_before.contains(&j.id) {
            without_supply_before.push(j.id.clone());
            after.set_fixed_demand(node, 0.0);
        } else if !supplied.contains(&j.id) || node_in_segment.contains(j.id.as_str()) {
            without_supply.push(j.id.clone());
            demand_lost += intact.demand_m3s_at(node, at_s);
            after.set_fixed_demand(node, 0.0);
        }
    }
    let lost: HashSet<&String> = without_supply
        .iter()
        .chain(&without_supply_before)
        .collect();
    // With no demand left the answer is static heads; solving would only chase round-off
    // through links held at EPANET's tiny-resistance floor.
    let served = (0..net.junctions.len()).any(|node| after.base_demand_m3s(node) != 0.0);
    let mut pressure_deficient = Vec::new();
    let mut pressure_deficient_before = Vec::new();
    let mut min_pressure_m = None;
    if served {
        let at_time = |m: &HydModel| -> Result<Vec<f64>, HydraulicError> {
            let mut m = m.clone();
            m.start_patterns_at(at_s);
            Ok(simulate_model(&m, Some(0))?.remove(0).pressure_m)
        };
        let before = at_time(&intact)?;
        let after_p = at_time(&after)?;
        let mut min = f64::INFINITY;
        for (i, j) in net.junctions.iter().enumerate() {
            if lost.contains(&j.id) {
                continue;
            }
            min = min.min(after_p[i]);
            if before[i] < service_pressure_m {
                pressure_deficient_before.push((j.id.clone(), before[i], after_p[i]));
            } else if after_p[i] < service_pressure_m {
                pressure_deficient.push((j.id.clone(), after_p[i]));
            }
        }
        pressure_deficient.sort_by(|a, b| a.1.total_cmp(&b.1));
        pressure_deficient_before.sort_by(|a, b| a.2.total_cmp(&b.2));
        min_pressure_m = min.is_finite().then_some(min);
    }
    // Water quality with and without the break, at the junctions still supplied. A run that
    // fails (a network that cannot be balanced over two days with the break) is said, not
    // allowed to hide the isolation's answer.
    let mut quality_degraded = Vec::new();
    let mut quality_not_assessed = None;
    if served {
        match quality_after_horizon(&intact).and_then(|q0| Ok((q0, quality_after_horizon(&after)?)))
        {
            Err(e) => quality_not_assessed = Some(e.to_string()),
            Ok(((age0, cl0), (age1, cl1))) => {
                for (i, j) in net.junctions.iter().enumerate() {
                    if lost.contains(&j.id) || age0.len() <= i || age1.len() <= i {
                        continue;
                    }
                    let (c0, c1) = (cl0.as_ref().map(|c| c[i]), cl1.as_ref().map(|c| c[i]));
                    let older = age1[i] - age0[i] > AGE_RISE_H;
                    let less_chlorine = matches!((c0, c1), (Some(a), Some(b)) if a >= LOW_CHLORINE_MG_L && b < LOW_CHLORINE_MG_L);
                    if older || less_chlorine {
                        quality_degraded.push(QualityChange {
                            junction: j.id.clone(),
                            age_before_h: age0[i],
                            age_after_h: age1[i],
                            chlorine_before: c0,
                            chlorine_after: c1,
                        });
                    }
                }
                quality_degraded.sort_by(|a, b| {
                    (b.age_after_h - b.age_before_h).total_cmp(&(a.age_after_h - a.age_before_h))
                });
            }
        }
    }
    let mut segment_links: Vec<String> = links
        .iter()
        .enumerate()
        .filter(|(k, _)| in_segment[*k])
        .map(|(_, l)| l.0.to_string())
        .collect();
    segment_links.sort();
    Ok(PipeBreak {
        broken: broken.to_string(),
        segment_links,
        valves_closed: closed_valves,
        without_supply,
        without_supply_before,
        demand_lost_m3s: demand_lost,
        at_s,
        pressure_deficient,
        pressure_deficient_before,
        min_pressure_m,
        quality_degraded,
        quality_not_assessed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R — a — b — c — d with a loop b — e — d; valves on pipe b-c next to b and on c-d next to d.
    const NET: &str = "[JUNCTIONS]\na 50 0\nb 50 1\nc 50 1\nd 50 1\ne 50 1\n[RESERVOIRS]\nR 100\n[PIPES]\np0 R a 100 300 120\np1 a b 100 300 120\np2 b c 100 200 120\np3 c d 100 200 120\np4 b e 100 200 120\np5 e d 100 200 120\n[OPTIONS]\nUnits LPS\n[END]\n";

    #[test]
    fn the_segment_stops_at_valves_and_the_loop_keeps_d_supplied() {
        let net = EpanetNetwork::parse(NET).unwrap();
        let valves = vec![
            ("p2".to_string(), "b".to_string()),
            ("p3".to_string(), "d".to_string()),
        ];
        let r = isolate_pipe_break(&net, &valves, "p2", 10.0, 0).unwrap();
        assert_eq!(r.segment_links, vec!["p2", "p3"]);
        assert_eq!(r.valves_closed, vec!["p2@b", "p3@d"]);
        assert_eq!(
            r.without_supply,
            vec!["c"],
            "d is fed round the loop through e"
        );
        assert!((r.demand_lost_m3s - 0.001).abs() < 1e-12);
        assert!(r.pressure_deficient.is_empty());
    }

    /// What is wrong before the break is not booked to it: e sits high (pressure about 5 m
    /// under a 10 m service level in the intact network) and f hangs behind a closed pipe.
    #[test]
    fn junctions_low_or_dry_before_the_break_are_shown_apart() {
        let text = NET
            .replace("e 50 1", "e 95 1\nf 50 1")
            .replace("[OPTIONS]", "p6 a f 100 100 120 0 Closed\n[OPTIONS]");
        let net = EpanetNetwork::parse(&text).unwrap();
        let valves = vec![
            ("p2".to_string(), "b".to_string()),
            ("p3".to_string(), "d".to_string()),
        ];
        let r = isolate_pipe_break(&net, &valves, "p2", 10.0, 0).unwrap();
        assert_eq!(r.without_supply, vec!["c"]);
        assert_eq!(r.without_supply_before, vec!["f"]);
        assert!(
            (r.demand_lost_m3s - 0.001).abs() < 1e-12,
            "f's demand is not the break's"
        );
        assert!(r.pressure_deficient.is_empty(), "{r:?}");
        assert_eq!(r.pressure_deficient_before.len(), 1, "{r:?}");
        let (id, before, after) = &r.pressure_deficient_before[0];
        assert_eq!(id, "e");
        assert!(*before < 10.0 && *after < 10.0, "{before} {after}");
    }

    /// c is fed mostly by a short pipe from b, a little the long way round through d (two 5 km
    /// mains of 300 mm holding 707 m³): when the short pipe breaks, all of c's water comes the
    /// long way and is two days old (the horizon) instead of hours.
    #[test]
    fn a_break_that_reroutes_water_the_long_way_ages_it() {
        let net = EpanetNetwork::parse("[JUNCTIONS]\na 50 0\nb 50 0\nc 50 1\nd 50 0\n[RESERVOIRS]\nR 100\n[PIPES]\np0 R a 100 300 120\np1 a b 100 300 120\np2 b c 100 200 120\np3 b d 5000 300 120\np4 d c 5000 300 120\n[OPTIONS]\nUnits LPS\n[END]\n").unwrap();
        let valves = vec![
            ("p2".to_string(), "b".to_string()),
            ("p2".to_string(), "c".to_string()),
        ];
        let r = isolate_pipe_break(&net, &valves, "p2", 10.0, 0).unwrap();
        assert!(r.without_supply.is_empty());
        let c = r
            .quality_degraded
            .iter()
            .find(|q| q.junction == "c")
            .unwrap_or_else(|| panic!("c's water ages: {r:?}"));
        assert!(c.age_before_h < 24.0, "{c:?}");
        assert!(c.age_after_h > 47.0, "{c:?}");
        assert!(c.chlorine_before.is_none(), "no chemical in this network");
        // The intact loop keeps everything fresh where the break changes nothing.
        let r = isolate_pipe_break(&net, &valves, "p3", 10.0, 0).unwrap();
        assert!(
            r.quality_degraded.iter().all(|q| q.junction != "c"),
            "{r:?}"
        );
    }

    #[test]
    fn without_valves_the_break_drains_everything_behind_it() {
        let net = EpanetNetwork::parse(NET).unwrap();
        let r = isolate_pipe_break(&net, &[("p1".to_string(), "a".to_string())], "p2", 10.0, 0)
            .unwrap();
        assert_eq!(r.without_supply, vec!["b", "c", "d", "e"]);
        assert!(isolate_pipe_break(&net, &[], "zz", 10.0, 0).is_err());
    }
}
