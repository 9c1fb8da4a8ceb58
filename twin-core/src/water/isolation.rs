//! Pipe breaks: the valve segment around a broken pipe (the pipes and junctions reachable from
//! it without passing an isolation valve), the valves closed to isolate it, the junctions left
//! without supply (in the segment, or cut off from every source by the closure), and the
//! junctions whose pressure falls below a service level once the network is re-solved.
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
    /// Junctions without water: those in the segment and those cut off from every source.
    pub without_supply: Vec<String>,
    /// Demand no longer served, m³/s (base demand of the junctions without supply).
    pub demand_lost_m3s: f64,
    /// Supplied junctions below the service pressure after the re-solve, with their pressure.
    pub pressure_deficient: Vec<(String, f64)>,
    /// Lowest pressure of a supplied junction (None when no junction keeps any demand).
    pub min_pressure_m: Option<f64>,
}

/// Isolate a broken pipe and re-solve the network at t = 0.
pub fn isolate_pipe_break(
    net: &EpanetNetwork,
    valves: &[(String, String)],
    broken: &str,
    service_pressure_m: f64,
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
    let valve_link: HashSet<&str> = net
        .tags
        .iter()
        .filter(|(kind, _, tag)| kind == "LINK" && tag == "isolation")
        .map(|(_, id, _)| id.as_str())
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
    let mut after = HydModel::from_epanet(net).map_err(HydraulicError::from)?;
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
    // Junctions still connected to a reservoir or tank through open links.
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
    // Junctions are the model's first nodes, in the file's order.
    let mut without_supply = Vec::new();
    let mut demand_lost = 0.0;
    for (node, j) in net.junctions.iter().enumerate() {
        if !supplied.contains(j.id.as_str()) || node_in_segment.contains(j.id.as_str()) {
            without_supply.push(j.id.clone());
            demand_lost += after.base_demand_m3s(node);
            after.set_fixed_demand(node, 0.0);
        }
    }
    let lost: HashSet<&String> = without_supply.iter().collect();
    // With no demand left the answer is static heads; solving would only chase round-off
    // through links held at EPANET's tiny-resistance floor.
    let served = (0..net.junctions.len()).any(|node| after.base_demand_m3s(node) != 0.0);
    let (pressure_deficient, min_pressure_m) = if served {
        let snapshot = simulate_model(&after, Some(0))?.remove(0);
        let supplied_pressures: Vec<(String, f64)> = net
            .junctions
            .iter()
            .enumerate()
            .filter(|(_, j)| !lost.contains(&j.id))
            .map(|(i, j)| (j.id.clone(), snapshot.pressure_m[i]))
            .collect();
        let min = supplied_pressures
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min);
        let mut deficient: Vec<(String, f64)> = supplied_pressures
            .into_iter()
            .filter(|(_, p)| *p < service_pressure_m)
            .collect();
        deficient.sort_by(|a, b| a.1.total_cmp(&b.1));
        (deficient, min.is_finite().then_some(min))
    } else {
        (Vec::new(), None)
    };
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
        demand_lost_m3s: demand_lost,
        pressure_deficient,
        min_pressure_m,
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
        let r = isolate_pipe_break(&net, &valves, "p2", 10.0).unwrap();
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

    #[test]
    fn without_valves_the_break_drains_everything_behind_it() {
        let net = EpanetNetwork::parse(NET).unwrap();
        let r =
            isolate_pipe_break(&net, &[("p1".to_string(), "a".to_string())], "p2", 10.0).unwrap();
        assert_eq!(r.without_supply, vec!["b", "c", "d", "e"]);
        assert!(isolate_pipe_break(&net, &[], "zz", 10.0).is_err());
    }
}
