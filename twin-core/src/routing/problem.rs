//! A CVRP instance with the depot at index 0, and the solution checker.

use crate::formats::vrplib::VrplibInstance;

#[derive(Debug, Clone, PartialEq)]
pub struct CvrpProblem {
    pub name: String,
    /// Nodes, depot included (depot = 0, customers 1..n).
    pub n: usize,
    pub capacity: u32,
    pub demand: Vec<u32>,
    /// Row-major n × n distances.
    pub dist: Vec<f64>,
    /// For each node, its index in the source file (for reporting customer ids).
    pub file_index: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CvrpSolution {
    /// Customers (problem indices 1..n) of each route, depot omitted.
    pub routes: Vec<Vec<usize>>,
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolutionError {
    #[error("customer {0} is visited {1} times")]
    Visits(usize, usize),
    #[error("route {route} carries {load} > capacity {capacity}")]
    Overload {
        route: usize,
        load: u32,
        capacity: u32,
    },
    #[error("route {0} visits the depot or an unknown node")]
    BadNode(usize),
    #[error("stated cost {stated} differs from the recomputed {recomputed}")]
    Cost { stated: f64, recomputed: f64 },
}

impl CvrpProblem {
    /// From a VRPLIB instance, with the depot moved to index 0.
    pub fn from_vrplib(inst: &VrplibInstance, round: bool) -> CvrpProblem {
        let m = inst.distance_matrix(round);
        let n = inst.dimension;
        let mut order = vec![inst.depot];
        order.extend((0..n).filter(|&k| k != inst.depot));
        let mut dist = vec![0.0; n * n];
        for (i, &a) in order.iter().enumerate() {
            for (j, &b) in order.iter().enumerate() {
                dist[i * n + j] = m[a * n + b];
            }
        }
        CvrpProblem {
            name: inst.name.clone(),
            n,
            capacity: inst.capacity,
            demand: order.iter().map(|&k| inst.demands[k]).collect(),
            dist,
            file_index: order,
        }
    }

    #[inline]
    pub fn d(&self, a: usize, b: usize) -> f64 {
        self.dist[a * self.n + b]
    }

    pub fn route_cost(&self, route: &[usize]) -> f64 {
        let mut cost = 0.0;
        let mut prev = 0;
        for &c in route {
            cost += self.d(prev, c);
            prev = c;
        }
        cost + self.d(prev, 0)
    }

    /// Check a solution: every customer exactly once, no route over capacity, and the stated
    /// cost equal to the recomputed one. Returns the recomputed cost.
    pub fn check(&self, solution: &CvrpSolution) -> Result<f64, SolutionError> {
        let mut visits = vec![0usize; self.n];
        let mut total = 0.0;
        for (r, route) in solution.routes.iter().enumerate() {
            let mut load = 0u32;
            for &c in route {
                if c == 0 || c >= self.n {
                    return Err(SolutionError::BadNode(r));
                }
                visits[c] += 1;
                load += self.demand[c];
            }
            if load > self.capacity {
                return Err(SolutionError::Overload {
                    route: r,
                    load,
                    capacity: self.capacity,
                });
            }
            total += self.route_cost(route);
        }
        if let Some(c) = (1..self.n).find(|&c| visits[c] != 1) {
            return Err(SolutionError::Visits(c, visits[c]));
        }
        if (total - solution.cost).abs() > 1e-6 * (1.0 + total) {
            return Err(SolutionError::Cost {
                stated: solution.cost,
                recomputed: total,
            });
        }
        Ok(total)
    }
}
