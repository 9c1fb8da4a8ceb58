//! One-to-all shortest paths with a binary-heap Dijkstra whose buffers are reused between calls,
//! so a solver iteration allocates nothing. Zone centroids other than the origin are not expanded
//! (no through traffic across zones).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::network::AssignmentNetwork;

const NO_LINK: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq)]
struct Entry {
    dist: f64,
    node: u32,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on distance, ties by node for determinism.
        other
            .dist
            .total_cmp(&self.dist)
            .then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A shortest-path tree from one origin, reusable across origins and iterations.
pub struct ShortestPathTree {
    pub dist: Vec<f64>,
    /// The link entering each node on its shortest path (`u32::MAX` for the origin or unreached).
    pub pred_link: Vec<u32>,
    heap: BinaryHeap<Entry>,
}

impl ShortestPathTree {
    pub fn new(node_count: usize) -> ShortestPathTree {
        ShortestPathTree {
            dist: vec![f64::INFINITY; node_count],
            pred_link: vec![NO_LINK; node_count],
            heap: BinaryHeap::with_capacity(node_count),
        }
    }

    /// Compute the tree from `origin` with the given link costs.
    pub fn run(&mut self, net: &AssignmentNetwork, cost: &[f64], origin: usize) {
        self.dist.fill(f64::INFINITY);
        self.pred_link.fill(NO_LINK);
        self.heap.clear();
        self.dist[origin] = 0.0;
        self.heap.push(Entry {
            dist: 0.0,
            node: origin as u32,
        });
        while let Some(Entry { dist, node }) = self.heap.pop() {
            let u = node as usize;
            if dist > self.dist[u] {
                continue;
            }
            if u != origin && u < net.first_thru_node {
                continue;
            }
            for &k in net.out_links(u) {
                let v = net.link_to[k as usize] as usize;
                let nd = dist + cost[k as usize];
                if nd < self.dist[v] {
                    self.dist[v] = nd;
                    self.pred_link[v] = k;
                    self.heap.push(Entry {
                        dist: nd,
                        node: v as u32,
                    });
                }
            }
        }
    }

    /// The links of the path to `dest`, from the origin, into `out` (cleared first).
    /// Returns false if `dest` is unreachable.
    pub fn path_to(&self, net: &AssignmentNetwork, dest: usize, out: &mut Vec<u32>) -> bool {
        out.clear();
        if !self.dist[dest].is_finite() {
            return false;
        }
        let mut v = dest;
        while self.pred_link[v] != NO_LINK {
            let k = self.pred_link[v];
            out.push(k);
            v = net.links[k as usize].from as usize;
        }
        out.reverse();
        true
    }
}
