//! Envelope (skyline) Cholesky for the symmetric positive-definite GGA matrix.
//!
//! The pattern is fixed by the network, so the ordering (reverse Cuthill–McKee, which keeps
//! the envelope narrow on street-like networks) and the envelope are computed once; each
//! Newton iteration refills the values and refactors in place.

use std::collections::VecDeque;

pub struct EnvelopeSystem {
    n: usize,
    /// perm[new] = old, inv[old] = new.
    perm: Vec<usize>,
    inv: Vec<usize>,
    /// First column of row i's envelope (in the new ordering).
    first: Vec<usize>,
    /// Start of row i in `values`; row i holds columns first[i]..=i.
    start: Vec<usize>,
    values: Vec<f64>,
}

impl EnvelopeSystem {
    /// Build for `n` unknowns and the off-diagonal pairs `edges`.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> EnvelopeSystem {
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in edges {
            if a != b {
                adj[a].push(b);
                adj[b].push(a);
            }
        }
        for a in &mut adj {
            a.sort_unstable();
            a.dedup();
        }
        // Reverse Cuthill–McKee from a pseudo-peripheral node of each component (George & Liu):
        // starting at one end of the component keeps the level sets, and so the envelope, narrow.
        let mut order = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        let mut by_degree: Vec<usize> = (0..n).collect();
        by_degree.sort_by_key(|&v| (adj[v].len(), v));
        for &first in &by_degree {
            if seen[first] {
                continue;
            }
            let s = pseudo_peripheral(&adj, first);
            seen[s] = true;
            let mut queue = VecDeque::from([s]);
            while let Some(v) = queue.pop_front() {
                order.push(v);
                let mut next: Vec<usize> = adj[v].iter().copied().filter(|&w| !seen[w]).collect();
                next.sort_by_key(|&w| (adj[w].len(), w));
                for w in next {
                    seen[w] = true;
                    queue.push_back(w);
                }
            }
        }
        order.reverse();
        let perm = order;
        let mut inv = vec![0; n];
        for (new, &old) in perm.iter().enumerate() {
            inv[old] = new;
        }
        let mut first: Vec<usize> = (0..n).collect();
        for (old, nbrs) in adj.iter().enumerate() {
            let i = inv[old];
            for &w in nbrs {
                let j = inv[w];
                if j < i {
                    first[i] = first[i].min(j);
                }
            }
        }
        let mut start = vec![0; n + 1];
        for i in 0..n {
            start[i + 1] = start[i] + (i - first[i] + 1);
        }
        let values = vec![0.0; start[n]];
        EnvelopeSystem {
            n,
            perm,
            inv,
            first,
            start,
            values,
        }
    }

    pub fn clear(&mut self) {
        self.values.fill(0.0);
    }

    #[inline]
    fn at(&mut self, i: usize, j: usize) -> &mut f64 {
        let (r, c) = if i >= j { (i, j) } else { (j, i) };
        let k = self.start[r] + (c - self.first[r]);
        &mut self.values[k]
    }

    /// Add `v` to entry (a, b) (and its mirror) of the matrix, in original numbering.
    pub fn add(&mut self, a: usize, b: usize, v: f64) {
        let (i, j) = (self.inv[a], self.inv[b]);
        *self.at(i, j) += v;
    }

    /// Factor in place and solve for `rhs` (original numbering); returns false if the matrix
    /// is not positive definite (an isolated or unsupplied part of the network).
    pub fn solve(&mut self, rhs: &mut [f64]) -> bool {
        let n = self.n;
        // Cholesky L Lᵀ within the envelope, row by row.
        for i in 0..n {
            let fi = self.first[i];
            for j in fi..=i {
                let fj = self.first[j];
                let lo = fi.max(fj);
                // Dot product of rows i and j over their common columns lo..j, as slices so the
                // compiler can vectorise it (this loop is most of the factorisation).
                let len = j - lo;
                let row_i = &self.values[self.start[i] + (lo - fi)..][..len];
                let row_j = &self.values[self.start[j] + (lo - fj)..][..len];
                let dot: f64 = row_i.iter().zip(row_j).map(|(a, b)| a * b).sum();
                let s = self.values[self.start[i] + (j - fi)] - dot;
                if j == i {
                    if s <= 0.0 || !s.is_finite() {
                        return false;
                    }
                    self.values[self.start[i] + (i - fi)] = s.sqrt();
                } else {
                    let d = self.values[self.start[j] + (j - fj)];
                    self.values[self.start[i] + (j - fi)] = s / d;
                }
            }
        }
        let mut y: Vec<f64> = (0..n).map(|i| rhs[self.perm[i]]).collect();
        for i in 0..n {
            let fi = self.first[i];
            let mut s = y[i];
            for k in fi..i {
                s -= self.values[self.start[i] + (k - fi)] * y[k];
            }
            y[i] = s / self.values[self.start[i] + (i - fi)];
        }
        for i in (0..n).rev() {
            let v = y[i] / self.values[self.start[i] + (i - self.first[i])];
            y[i] = v;
            for k in self.first[i]..i {
                y[k] -= self.values[self.start[i] + (k - self.first[i])] * v;
            }
        }
        for i in 0..n {
            rhs[self.perm[i]] = y[i];
        }
        true
    }
}

/// A node at the end of a longest shortest path, approximately: repeatedly jump to the
/// lowest-degree node of the last BFS level while the eccentricity grows.
fn pseudo_peripheral(adj: &[Vec<usize>], start: usize) -> usize {
    let levels = |root: usize| -> (usize, usize) {
        let mut depth = vec![usize::MAX; adj.len()];
        depth[root] = 0;
        let mut queue = VecDeque::from([root]);
        let mut last = root;
        while let Some(v) = queue.pop_front() {
            let better = depth[v] > depth[last]
                || (depth[v] == depth[last] && adj[v].len() < adj[last].len());
            if better {
                last = v;
            }
            for &w in &adj[v] {
                if depth[w] == usize::MAX {
                    depth[w] = depth[v] + 1;
                    queue.push_back(w);
                }
            }
        }
        (last, depth[last])
    };
    let (mut node, mut ecc) = (start, levels(start).1);
    for _ in 0..8 {
        let (far, _) = levels(node);
        let (_, far_ecc) = levels(far);
        if far_ecc <= ecc {
            break;
        }
        node = far;
        ecc = far_ecc;
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn solves_laplacian_like_systems(edges in proptest::collection::vec((0usize..20, 0usize..20, 0.1f64..10.0), 0..60), diag in proptest::collection::vec(0.1f64..5.0, 20)) {
            let n = 20;
            let pairs: Vec<(usize, usize)> = edges.iter().map(|e| (e.0, e.1)).collect();
            let mut sys = EnvelopeSystem::new(n, &pairs);
            let mut dense = vec![vec![0.0; n]; n];
            for i in 0..n {
                sys.add(i, i, diag[i]);
                dense[i][i] += diag[i];
            }
            for &(a, b, w) in &edges {
                if a == b { continue; }
                sys.add(a, a, w); sys.add(b, b, w); sys.add(a, b, -w);
                dense[a][a] += w; dense[b][b] += w; dense[a][b] -= w; dense[b][a] -= w;
            }
            let x_true: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let mut rhs: Vec<f64> = (0..n).map(|i| (0..n).map(|j| dense[i][j] * x_true[j]).sum()).collect();
            prop_assert!(sys.solve(&mut rhs));
            for i in 0..n {
                prop_assert!((rhs[i] - x_true[i]).abs() < 1e-8);
            }
        }
    }
}
