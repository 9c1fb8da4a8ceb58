//! Zero-impedance branches (bus-bar couplers, breakers written as branches): the buses they
//! join are one electrical node. The load flow solves the network with each such group merged
//! into one bus, gives every bus of a group the group's voltage, and finds the couplers' flows
//! from Kirchhoff's current law over the couplers' tree (each coupler carries what the buses
//! beyond it draw). Refused, naming the branch: a coupler with a transformer ratio or line
//! charging, a loop of couplers (the split of flow between them is undetermined), and a group
//! joining two buses that hold their voltage (their reactive split is undetermined).

use super::LoadFlowError;
use super::complex::C;
use super::network::SolverNetwork;
use crate::formats::matpower::MatpowerCase;

/// The merged network and how to map its answer back.
pub(super) struct Merged {
    /// The network with each group of coupled buses as one bus.
    pub reduced: SolverNetwork,
    /// Per bus of the original network: its bus in `reduced`.
    pub group: Vec<usize>,
    /// The couplers as a forest: `(branch, parent bus, child bus)`, parents before children.
    pub tree: Vec<(usize, usize, usize)>,
}

/// Merge the groups of buses joined by closed zero-impedance branches; `None` when there is
/// no such branch.
pub(super) fn merge(
    net: &SolverNetwork,
    case: &MatpowerCase,
) -> Result<Option<Merged>, LoadFlowError> {
    let couplers: Vec<usize> = (0..net.branches.len())
        .filter(|&k| net.branches[k].is_coupler())
        .collect();
    if couplers.is_empty() {
        return Ok(None);
    }
    let refuse = |k: usize, why: String| LoadFlowError::ZeroImpedance {
        row: k + 1,
        from: case.branch[k].from,
        to: case.branch[k].to,
        why,
    };
    let n = net.len();
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &k in &couplers {
        let br = &net.branches[k];
        if !br.is_plain() {
            return Err(refuse(
                k,
                "it has a transformer ratio or line charging, which a zero impedance cannot carry"
                    .into(),
            ));
        }
        adjacency[br.from].push(k);
        adjacency[br.to].push(k);
    }
    let holds_voltage = |i: usize| net.holds_voltage(i);
    let mut group = vec![usize::MAX; n];
    let mut roots: Vec<usize> = Vec::new();
    let mut tree = Vec::new();
    let mut used = vec![false; net.branches.len()];
    // Roots first: the slack, then PV buses, then the rest, so a group's root is the bus that
    // holds its voltage if one does.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (i != net.slack, !net.holds_voltage(i), i));
    for start in order {
        if group[start] != usize::MAX {
            continue;
        }
        let g = roots.len();
        roots.push(start);
        group[start] = g;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(u) = queue.pop_front() {
            for &k in &adjacency[u] {
                if used[k] {
                    continue;
                }
                used[k] = true;
                let br = &net.branches[k];
                let v = if br.from == u { br.to } else { br.from };
                if group[v] != usize::MAX {
                    return Err(refuse(
                        k,
                        "it closes a loop of zero-impedance branches, so the flow split between them is undetermined".into(),
                    ));
                }
                if holds_voltage(v) {
                    return Err(refuse(
                        k,
                        format!(
                            "it joins buses {} and {}, which both hold their voltage; their reactive split is undetermined",
                            case.bus[start].id, case.bus[v].id
                        ),
                    ));
                }
                group[v] = g;
                tree.push((k, u, v));
                queue.push_back(v);
            }
        }
    }
    let groups = roots.len();
    let mut reduced = SolverNetwork {
        base_mva: net.base_mva,
        slack: group[net.slack],
        slack_v: net.slack_v,
        reference_v: roots.iter().map(|&r| net.reference_v[r]).collect(),
        load: vec![C::default(); groups],
        generation: vec![C::default(); groups],
        shunt: vec![C::default(); groups],
        pv_vm: roots.iter().map(|&r| net.pv_vm[r]).collect(),
        start: roots.iter().map(|&r| net.start[r]).collect(),
        branches: net.branches.clone(),
    };
    for i in 0..n {
        let g = group[i];
        reduced.load[g] += net.load[i];
        reduced.generation[g] += net.generation[i];
        reduced.shunt[g] += net.shunt[i];
    }
    for (k, br) in reduced.branches.iter_mut().enumerate() {
        br.from = group[br.from];
        br.to = group[br.to];
        if br.closed && br.from == br.to {
            // A coupler, or a branch between two coupled buses: both ends at one voltage.
            if !net.branches[k].is_coupler() && !br.is_plain() {
                return Err(refuse(
                    k,
                    "it joins two buses that zero-impedance branches already join, through a transformer or line charging".into(),
                ));
            }
            br.closed = false;
        }
    }
    Ok(Some(Merged {
        reduced,
        group,
        tree,
    }))
}

/// The couplers' flows (complex power into each at its "from" end, pu) from the bus voltages
/// `v` and the other branches' flows `s_at` (per bus, the power leaving it through closed
/// non-coupler branches).
pub(super) fn coupler_flows(
    net: &SolverNetwork,
    merged: &Merged,
    v: &[C],
    s_at: &[C],
) -> Vec<(usize, C)> {
    let n = net.len();
    // What each bus pushes into the couplers: its scheduled generation less its load, its
    // shunt and what it sends down its other branches.
    let mut surplus: Vec<C> = (0..n)
        .map(|i| {
            let vv = v[i].abs().powi(2);
            net.generation[i] - net.load[i] - net.shunt[i].conj().scale(vv) - s_at[i]
        })
        .collect();
    let mut flows = Vec::with_capacity(merged.tree.len());
    for &(k, parent, child) in merged.tree.iter().rev() {
        // The child's subtree sends `surplus[child]` up to the parent.
        let up = surplus[child];
        surplus[parent] += up;
        let into_from_end = if net.branches[k].from == child {
            up
        } else {
            -up
        };
        flows.push((k, into_from_end));
    }
    flows
}
