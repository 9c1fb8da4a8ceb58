//! A CVRP instance with the depot at index 0, and the solution checker: every customer once,
//! no route over capacity, none longer than the duration limit (route length plus service
//! times, CVRPLIB's `DISTANCE` and `SERVICE_TIME`), no more routes than vehicles, and the stated
//! cost equal to the recomputed one.

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
    /// Time spent at each customer, in distance units (CVRPLIB's `SERVICE_TIME`).
    pub service_time: f64,
    /// The longest a route may be, its service times included (CVRPLIB's `DISTANCE`).
    pub max_route_duration: Option<f64>,
    /// The most routes a solution may have (CVRPLIB's `VEHICLES`).
    pub vehicles: Option<usize>,
}

/// An instance no solution can satisfy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemError {
    #[error(
        "customer {customer} (node {node} of the file) alone needs a route of {duration} (out, service, back), over the DISTANCE limit {limit}"
    )]
    CustomerBeyondLimit {
        customer: usize,
        node: usize,
        duration: f64,
        limit: f64,
    },
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
    #[error("route {route} lasts {duration} (length and service), over the DISTANCE limit {limit}")]
    TooLong {
        route: usize,
        duration: f64,
        limit: f64,
    },
    #[error(
        "the solution needs {routes} routes and the instance has {vehicles} vehicles (VEHICLES): no solution within the fleet was found"
    )]
    Fleet { routes: usize, vehicles: usize },
}

impl CvrpProblem {
    /// From a VRPLIB instance, with the depot moved to index 0; an instance in which some
    /// customer cannot be served within the duration limit even alone is an error.
    pub fn from_vrplib(inst: &VrplibInstance, round: bool) -> Result<CvrpProblem, ProblemError> {
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
        let problem = CvrpProblem {
            name: inst.name.clone(),
            n,
            capacity: inst.capacity,
            demand: order.iter().map(|&k| inst.demands[k]).collect(),
            dist,
            file_index: order,
            service_time: inst.service_time,
            max_route_duration: inst.distance_limit,
            vehicles: inst.vehicles,
        };
        if let Some(limit) = problem.max_route_duration {
            for c in 1..n {
                let duration = problem.route_duration(&[c]);
                if duration > limit + 1e-9 {
                    return Err(ProblemError::CustomerBeyondLimit {
                        customer: c,
                        node: problem.file_index[c] + 1,
                        duration,
                        limit,
                    });
                }
            }
        }
        Ok(problem)
    }

    /// A route's length plus the service time of its customers.
    pub fn route_duration(&self, route: &[usize]) -> f64 {
        self.route_cost(route) + self.service_time * route.len() as f64
    }

    /// Whether a route of `length` serving `customers` is within the duration limit.
    #[inline]
    pub fn within_duration(&self, length: f64, customers: usize) -> bool {
        self.max_route_duration
            .is_none_or(|limit| length + self.service_time * customers as f64 <= limit + 1e-9)
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

    /// Check a solution: [`Self::check_routes`] and no more routes than vehicles. Returns the
    /// recomputed cost.
    pub fn check(&self, solution: &CvrpSolution) -> Result<f64, SolutionError> {
        let cost = self.check_routes(solution)?;
        if let Some(vehicles) = self.vehicles
            && solution.routes.len() > vehicles
        {
            return Err(SolutionError::Fleet {
                routes: solution.routes.len(),
                vehicles,
            });
        }
        Ok(cost)
    }

    /// Check a solution's routes: every customer exactly once, no route over capacity or the
    /// duration limit, and the stated cost equal to the recomputed one. Returns the recomputed
    /// cost.
    pub fn check_routes(&self, solution: &CvrpSolution) -> Result<f64, SolutionError> {
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
            if let Some(limit) = self.max_route_duration {
                let duration = self.route_duration(route);
                if duration > limit + 1e-9 {
                    return Err(SolutionError::TooLong {
                        route: r,
                        duration,
                        limit,
                    });
                }
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
