//! Sparse LDLᵀ factorisation for the symmetric positive-definite GGA matrix.
//!
//! The pattern is fixed by the network, so everything structural is done once in
//! [`SparseLdl::new`]: a minimum-degree ordering (as EPANET's own solver uses, to keep fill-in
//! low on meshed street networks), the elimination tree and the column counts of L. Each Newton
//! iteration only refills the values ([`SparseLdl::add`]) and runs the numeric up-looking
//! factorisation (T. Davis, "Algorithm 849: a concise sparse Cholesky factorization package",
//! ACM TOMS 2005) into the preallocated L, without allocating.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: usize = usize::MAX;

pub struct SparseLdl {
    n: usize,
    /// perm[new] = old, inv[old] = new.
    perm: Vec<usize>,
    inv: Vec<usize>,
    /// Upper triangle of the permuted matrix, by column: rows `a_row[a_start[k]..a_start[k+1]]`
    /// (sorted, all ≤ k, the diagonal last) with values `a_val`.
    a_start: Vec<usize>,
    a_row: Vec<usize>,
    a_val: Vec<f64>,
    /// Elimination tree and the strictly-lower factor L by column.
    parent: Vec<usize>,
    l_start: Vec<usize>,
    l_row: Vec<usize>,
    l_val: Vec<f64>,
    d: Vec<f64>,
    // Workspaces for the numeric factorisation and the solve.
    y: Vec<f64>,
    flag: Vec<usize>,
    pattern: Vec<usize>,
    l_len: Vec<usize>,
    x: Vec<f64>,
}

impl SparseLdl {
    /// Build for `n` unknowns and the off-diagonal pairs `edges` (each unordered pair once or
    /// more; self-pairs are ignored).
    pub fn new(n: usize, edges: &[(usize, usize)]) -> SparseLdl {
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
        let perm = minimum_degree_order(&adj);
        let mut inv = vec![0; n];
        for (new, &old) in perm.iter().enumerate() {
            inv[old] = new;
        }
        // Upper-triangular pattern of the permuted matrix, column by column.
        let mut cols: Vec<Vec<usize>> = (0..n).map(|k| vec![k]).collect();
        for (old, nbrs) in adj.iter().enumerate() {
            let i = inv[old];
            for &w in nbrs {
                let j = inv[w];
                if i < j {
                    cols[j].push(i);
                }
            }
        }
        let mut a_start = Vec::with_capacity(n + 1);
        let mut a_row = Vec::new();
        a_start.push(0);
        for col in &mut cols {
            col.sort_unstable();
            a_row.extend_from_slice(col);
            a_start.push(a_row.len());
        }
        // Symbolic factorisation: elimination tree and the number of entries in each column of L.
        let mut parent = vec![NONE; n];
        let mut flag = vec![NONE; n];
        let mut count = vec![0usize; n];
        for k in 0..n {
            flag[k] = k;
            for &row in &a_row[a_start[k]..a_start[k + 1]] {
                let mut i = row;
                while flag[i] != k {
                    if parent[i] == NONE {
                        parent[i] = k;
                    }
                    count[i] += 1;
                    flag[i] = k;
                    i = parent[i];
                }
            }
        }
        let mut l_start = Vec::with_capacity(n + 1);
        l_start.push(0);
        for k in 0..n {
            l_start.push(l_start[k] + count[k]);
        }
        let nnz_l = l_start[n];
        SparseLdl {
            n,
            perm,
            inv,
            a_val: vec![0.0; a_row.len()],
            a_start,
            a_row,
            parent,
            l_start,
            l_row: vec![0; nnz_l],
            l_val: vec![0.0; nnz_l],
            d: vec![0.0; n],
            y: vec![0.0; n],
            flag,
            pattern: vec![0; n],
            l_len: vec![0; n],
            x: vec![0.0; n],
        }
    }

    /// Entries in the factor L (below the diagonal): the fill the ordering achieved.
    pub fn factor_entries(&self) -> usize {
        self.l_start[self.n]
    }

    pub fn clear(&mut self) {
        self.a_val.fill(0.0);
    }

    /// Add `v` to entry (a, b) (and its mirror) of the matrix, in original numbering.
    /// The pair must be a diagonal or one of the edges given to [`SparseLdl::new`].
    pub fn add(&mut self, a: usize, b: usize, v: f64) {
        let (i, j) = (self.inv[a], self.inv[b]);
        let (row, col) = if i <= j { (i, j) } else { (j, i) };
        let rows = &self.a_row[self.a_start[col]..self.a_start[col + 1]];
        // Columns hold a handful of entries, the diagonal last.
        let pos = if row == col {
            rows.len() - 1
        } else {
            match rows.binary_search(&row) {
                Ok(p) => p,
                Err(_) => panic!("SparseLdl::add: ({a}, {b}) is not in the pattern"),
            }
        };
        self.a_val[self.a_start[col] + pos] += v;
    }

    /// Factor and solve for `rhs` (original numbering) in place. `Err(row)`: the matrix is
    /// not positive definite, first seen at `row` (original numbering): an isolated or
    /// unsupplied part of the network.
    pub fn solve(&mut self, rhs: &mut [f64]) -> Result<(), usize> {
        if let Err(k) = self.factor() {
            return Err(self.perm[k]);
        }
        let n = self.n;
        for k in 0..n {
            self.x[k] = rhs[self.perm[k]];
        }
        for j in 0..n {
            let xj = self.x[j];
            for p in self.l_start[j]..self.l_start[j + 1] {
                self.x[self.l_row[p]] -= self.l_val[p] * xj;
            }
        }
        for j in 0..n {
            self.x[j] /= self.d[j];
        }
        for j in (0..n).rev() {
            let mut s = self.x[j];
            for p in self.l_start[j]..self.l_start[j + 1] {
                s -= self.l_val[p] * self.x[self.l_row[p]];
            }
            self.x[j] = s;
        }
        for k in 0..n {
            rhs[self.perm[k]] = self.x[k];
        }
        Ok(())
    }

    /// Numeric up-looking LDLᵀ: row k of L from a sparse triangular solve along the
    /// elimination tree.
    fn factor(&mut self) -> Result<(), usize> {
        let n = self.n;
        for k in 0..n {
            self.y[k] = 0.0;
            let mut top = n;
            self.flag[k] = k;
            self.l_len[k] = 0;
            for p in self.a_start[k]..self.a_start[k + 1] {
                let mut i = self.a_row[p];
                self.y[i] += self.a_val[p];
                let mut len = 0;
                while self.flag[i] != k {
                    self.pattern[len] = i;
                    len += 1;
                    self.flag[i] = k;
                    i = self.parent[i];
                }
                while len > 0 {
                    top -= 1;
                    len -= 1;
                    self.pattern[top] = self.pattern[len];
                }
            }
            let mut dk = self.y[k];
            self.y[k] = 0.0;
            for t in top..n {
                let i = self.pattern[t];
                let yi = self.y[i];
                self.y[i] = 0.0;
                let end = self.l_start[i] + self.l_len[i];
                for p in self.l_start[i]..end {
                    self.y[self.l_row[p]] -= self.l_val[p] * yi;
                }
                let lki = yi / self.d[i];
                dk -= lki * yi;
                self.l_row[end] = k;
                self.l_val[end] = lki;
                self.l_len[i] += 1;
            }
            if dk <= 0.0 || !dk.is_finite() {
                return Err(k);
            }
            self.d[k] = dk;
        }
        Ok(())
    }
}

/// Minimum-degree ordering on the explicit elimination graph: repeatedly eliminate a node of
/// least current degree (ties by index, so the order is deterministic) and join its neighbours
/// into a clique. Done once per network; fill on street networks stays small, so the explicit
/// graph is cheap.
fn minimum_degree_order(adj: &[Vec<usize>]) -> Vec<usize> {
    let n = adj.len();
    let mut graph: Vec<Vec<usize>> = adj.to_vec();
    let mut eliminated = vec![false; n];
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> =
        (0..n).map(|v| Reverse((graph[v].len(), v))).collect();
    let mut order = Vec::with_capacity(n);
    let mut merged = Vec::new();
    while let Some(Reverse((degree, v))) = heap.pop() {
        if eliminated[v] || degree != graph[v].len() {
            continue;
        }
        eliminated[v] = true;
        order.push(v);
        let clique = std::mem::take(&mut graph[v]);
        for &u in &clique {
            // graph[u] := (graph[u] ∪ clique) \ {u, v}, kept sorted.
            merged.clear();
            let (a, b) = (&graph[u], &clique);
            let (mut i, mut j) = (0, 0);
            while i < a.len() || j < b.len() {
                let next = match (a.get(i), b.get(j)) {
                    (Some(&x), Some(&y)) if x == y => {
                        i += 1;
                        j += 1;
                        x
                    }
                    (Some(&x), Some(&y)) if x < y => {
                        i += 1;
                        x
                    }
                    (Some(_), Some(&y)) | (None, Some(&y)) => {
                        j += 1;
                        y
                    }
                    (Some(&x), None) => {
                        i += 1;
                        x
                    }
                    (None, None) => break,
                };
                if next != u && next != v {
                    merged.push(next);
                }
            }
            std::mem::swap(&mut graph[u], &mut merged);
            heap.push(Reverse((graph[u].len(), u)));
        }
    }
    order
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
            let mut sys = SparseLdl::new(n, &pairs);
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
            // Twice, so refactoring after `clear` and refilling is covered too.
            for round in 0..2 {
                if round == 1 {
                    sys.clear();
                    for i in 0..n { sys.add(i, i, diag[i]); }
                    for &(a, b, w) in &edges {
                        if a == b { continue; }
                        sys.add(a, a, w); sys.add(b, b, w); sys.add(a, b, -w);
                    }
                }
                let mut rhs: Vec<f64> = (0..n).map(|i| (0..n).map(|j| dense[i][j] * x_true[j]).sum()).collect();
                prop_assert!(sys.solve(&mut rhs).is_ok());
                for i in 0..n {
                    prop_assert!((rhs[i] - x_true[i]).abs() < 1e-8);
                }
            }
        }

        #[test]
        fn minimum_degree_is_a_permutation(edges in proptest::collection::vec((0usize..30, 0usize..30), 0..90)) {
            let mut adj = vec![Vec::new(); 30];
            for &(a, b) in &edges {
                if a != b { adj[a].push(b); adj[b].push(a); }
            }
            for a in &mut adj { a.sort_unstable(); a.dedup(); }
            let mut order = minimum_degree_order(&adj);
            order.sort_unstable();
            prop_assert_eq!(order, (0..30).collect::<Vec<_>>());
        }
    }

    #[test]
    fn singular_matrix_is_reported() {
        // Two nodes joined by an edge and nothing fixing either head: a pure Laplacian.
        let mut sys = SparseLdl::new(2, &[(0, 1)]);
        sys.add(0, 0, 1.0);
        sys.add(1, 1, 1.0);
        sys.add(0, 1, -1.0);
        let mut rhs = vec![0.0, 0.0];
        assert!(sys.solve(&mut rhs).is_err());
    }

    #[test]
    fn grid_fill_is_far_below_the_band() {
        // A 40 × 40 street grid: minimum degree keeps L near n log n, a band ordering needs n·√n.
        let side = 40;
        let id = |r: usize, c: usize| r * side + c;
        let mut edges = Vec::new();
        for r in 0..side {
            for c in 0..side {
                if c + 1 < side {
                    edges.push((id(r, c), id(r, c + 1)));
                }
                if r + 1 < side {
                    edges.push((id(r, c), id(r + 1, c)));
                }
            }
        }
        let sys = SparseLdl::new(side * side, &edges);
        assert!(
            sys.factor_entries() < side * side * side / 2,
            "fill {} on a {side}×{side} grid",
            sys.factor_entries()
        );
    }
}
