//! The assignment network: directed links with BPR volume-delay parameters, zones numbered
//! first, and a compressed forward star (CSR) for shortest paths. Built from a petgraph graph
//! (a city's road graph) or from TNTP files.

use petgraph::graph::DiGraph;
use petgraph::visit::EdgeRef;

use crate::formats::tntp::{TntpNetwork, TntpTrips};

/// A link with its BPR parameters: `t = fft · (1 + b · (x / capacity)^power)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficLink {
    pub from: u32,
    pub to: u32,
    pub capacity: f64,
    pub length: f64,
    pub free_flow_time: f64,
    pub b: f64,
    pub power: f64,
    pub toll: f64,
}

/// Generalised-cost weights: cost = time + toll·toll_weight + length·distance_weight.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostWeights {
    pub toll: f64,
    pub distance: f64,
}

/// Demand by origin: `(origin zone, [(destination zone, flow)])`, zones as 0-based node indices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demand {
    pub by_origin: Vec<(u32, Vec<(u32, f64)>)>,
}

impl Demand {
    pub fn total(&self) -> f64 {
        self.by_origin
            .iter()
            .flat_map(|(_, d)| d.iter().map(|x| x.1))
            .sum()
    }

    pub fn pairs(&self) -> usize {
        self.by_origin.iter().map(|(_, d)| d.len()).sum()
    }

    /// Group `(origin, destination, flow)` triples (0-based) by origin, in order; repeated pairs
    /// add up, and intrazonal or empty pairs are dropped (they never load the network).
    pub fn from_triples(mut triples: Vec<(u32, u32, f64)>) -> Demand {
        triples.retain(|t| t.0 != t.1 && t.2 > 0.0);
        triples.sort_by_key(|a| (a.0, a.1));
        let mut by_origin: Vec<(u32, Vec<(u32, f64)>)> = Vec::new();
        for (o, d, f) in triples {
            match by_origin.last_mut() {
                Some((last, dests)) if *last == o => match dests.last_mut() {
                    Some((prev, total)) if *prev == d => *total += f,
                    _ => dests.push((d, f)),
                },
                _ => by_origin.push((o, vec![(d, f)])),
            }
        }
        Demand { by_origin }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    #[error("demand names zone {zone}, but the network has {zones} zones")]
    UnknownZone { zone: u32, zones: u32 },
    #[error("zone {origin} cannot reach zone {destination}")]
    Unreachable { origin: u32, destination: u32 },
    /// A link's travel time overflowed (a capacity near zero, a huge power): no equilibrium
    /// is reported with an infinite or NaN number in it.
    #[error(
        "link index {link} (node index {from} → {to}): its travel time is not a finite number at flow {flow} (capacity {capacity}); check the link's capacity and BPR parameters"
    )]
    NotFinite {
        link: usize,
        from: u32,
        to: u32,
        flow: f64,
        capacity: f64,
    },
}

#[derive(Debug, Clone)]
pub struct AssignmentNetwork {
    pub node_count: usize,
    pub zone_count: usize,
    /// Nodes with index below this are zone centroids: no through traffic.
    pub first_thru_node: usize,
    pub links: Vec<TrafficLink>,
    /// CSR: links leaving node `v` are `out_links[first_out[v]..first_out[v + 1]]`.
    pub(crate) first_out: Vec<u32>,
    pub(crate) out_links: Vec<u32>,
    pub(crate) link_to: Vec<u32>,
}

impl AssignmentNetwork {
    /// Build from a petgraph graph whose edge weights are the links (their `from`/`to` are
    /// ignored and taken from the graph). Zones are the first `zone_count` nodes.
    pub fn from_graph(
        graph: &DiGraph<(), TrafficLink>,
        zone_count: usize,
        first_thru_node: usize,
    ) -> AssignmentNetwork {
        let links: Vec<TrafficLink> = graph
            .edge_references()
            .map(|e| TrafficLink {
                from: e.source().index() as u32,
                to: e.target().index() as u32,
                ..e.weight().clone()
            })
            .collect();
        AssignmentNetwork::from_links(graph.node_count(), zone_count, first_thru_node, links)
    }

    pub fn from_links(
        node_count: usize,
        zone_count: usize,
        first_thru_node: usize,
        links: Vec<TrafficLink>,
    ) -> AssignmentNetwork {
        let mut first_out = vec![0u32; node_count + 1];
        for l in &links {
            first_out[l.from as usize + 1] += 1;
        }
        for v in 0..node_count {
            first_out[v + 1] += first_out[v];
        }
        let mut fill = first_out.clone();
        let mut out_links = vec![0u32; links.len()];
        for (k, l) in links.iter().enumerate() {
            out_links[fill[l.from as usize] as usize] = k as u32;
            fill[l.from as usize] += 1;
        }
        let link_to = links.iter().map(|l| l.to).collect();
        AssignmentNetwork {
            node_count,
            zone_count,
            first_thru_node,
            links,
            first_out,
            out_links,
            link_to,
        }
    }

    /// The network and demand of TNTP files (node `n` of the file is index `n - 1`).
    pub fn from_tntp(
        net: &TntpNetwork,
        trips: &TntpTrips,
    ) -> Result<(AssignmentNetwork, Demand), NetworkError> {
        let mut graph = DiGraph::with_capacity(net.nodes as usize, net.links.len());
        for _ in 0..net.nodes {
            graph.add_node(());
        }
        for l in &net.links {
            graph.add_edge(
                petgraph::graph::NodeIndex::new(l.from as usize - 1),
                petgraph::graph::NodeIndex::new(l.to as usize - 1),
                TrafficLink {
                    from: l.from - 1,
                    to: l.to - 1,
                    capacity: l.capacity,
                    length: l.length,
                    free_flow_time: l.free_flow_time,
                    b: l.b,
                    power: l.power,
                    toll: l.toll,
                },
            );
        }
        let network = AssignmentNetwork::from_graph(
            &graph,
            net.zones as usize,
            net.first_thru_node as usize - 1,
        );
        for &(o, d, _) in &trips.entries {
            for z in [o, d] {
                if z > net.zones {
                    return Err(NetworkError::UnknownZone {
                        zone: z,
                        zones: net.zones,
                    });
                }
            }
        }
        let demand = Demand::from_triples(
            trips
                .entries
                .iter()
                .map(|&(o, d, f)| (o - 1, d - 1, f))
                .collect(),
        );
        Ok((network, demand))
    }

    pub fn out_links(&self, v: usize) -> &[u32] {
        &self.out_links[self.first_out[v] as usize..self.first_out[v + 1] as usize]
    }
}

impl TrafficLink {
    /// BPR travel time at flow `x`.
    #[inline]
    pub fn time(&self, x: f64) -> f64 {
        if self.b == 0.0 {
            return self.free_flow_time;
        }
        self.free_flow_time * (1.0 + self.b * ratio_pow(x / self.capacity, self.power))
    }

    /// Derivative of the BPR time at flow `x`.
    #[inline]
    pub fn time_derivative(&self, x: f64) -> f64 {
        if self.b == 0.0 || self.power == 0.0 {
            return 0.0;
        }
        self.free_flow_time * self.b * self.power * ratio_pow(x / self.capacity, self.power - 1.0)
            / self.capacity
    }

    /// ∫0^x t(w) dw, the link's term of the Beckmann objective.
    #[inline]
    pub fn time_integral(&self, x: f64) -> f64 {
        if self.b == 0.0 {
            return self.free_flow_time * x;
        }
        self.free_flow_time
            * (x + self.b * self.capacity / (self.power + 1.0)
                * ratio_pow(x / self.capacity, self.power + 1.0))
    }
}

/// `r^p` for r ≥ 0, fast for the common integer power 4.
#[inline]
fn ratio_pow(r: f64, p: f64) -> f64 {
    let r = r.max(0.0);
    if p == 4.0 {
        let r2 = r * r;
        r2 * r2
    } else if p == 1.0 {
        r
    } else if p == 0.0 {
        1.0
    } else {
        r.powf(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bpr_integral_matches_numeric_integration(fft in 0.1f64..10.0, b in 0.0f64..1.0, power in 0.5f64..6.0, cap in 10.0f64..1000.0, x in 0.0f64..2000.0) {
            let l = TrafficLink { from: 0, to: 1, capacity: cap, length: 1.0, free_flow_time: fft, b, power, toll: 0.0 };
            let n = 2000;
            let h = x / n as f64;
            // Simpson's rule.
            let mut s = l.time(0.0) + l.time(x);
            for i in 1..n {
                s += if i % 2 == 1 { 4.0 } else { 2.0 } * l.time(i as f64 * h);
            }
            let numeric = s * h / 3.0;
            prop_assert!((numeric - l.time_integral(x)).abs() <= 1e-6 * (1.0 + numeric.abs()));
            let eps = 1e-4 * (1.0 + x);
            let slope = (l.time(x + eps) - l.time((x - eps).max(0.0))) / (x + eps - (x - eps).max(0.0));
            prop_assert!((slope - l.time_derivative(x)).abs() <= 1e-3 * (1.0 + slope.abs()));
        }
    }
}
