//! Capacitated vehicle routing, for waste collection and the field's benchmarks.
//!
//! - [`problem`]: a CVRP instance (depot 0, customers 1..n, a distance matrix) and the checker
//!   every solution goes through (each customer once, capacity respected, cost recomputed).
//! - [`sisr`]: the solver, Slack Induction by String Removals (Christiaens & Vanden Berghe,
//!   Transportation Science 2020): ruin adjacent strings of customers, recreate by greedy
//!   insertion with blinks, simulated-annealing acceptance. Seeded; with an iteration budget
//!   the result is identical for a seed, with a time budget it depends on the machine.
//! - [`road_matrix`]: distance matrices over a city's streets (one-to-many Dijkstra per point,
//!   in parallel with rayon), so routes follow real streets.

pub mod problem;
pub mod road_matrix;
pub mod sisr;

pub use problem::{CvrpProblem, CvrpSolution, ProblemError, SolutionError};
pub use sisr::{Budget, SolveOptions, solve};
