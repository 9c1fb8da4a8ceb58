//! Road traffic: static user-equilibrium assignment of an origin–destination demand with BPR
//! link costs, on a network built from TNTP files or from a city's road graph.
//!
//! - [`network`]: the assignment network (links with BPR parameters, zones, CSR adjacency).
//! - [`shortest_path`]: a reusable binary-heap Dijkstra that allocates nothing per call.
//! - [`assignment`]: path-based gradient projection (to relative gaps of 1e-6 and below) and
//!   Frank–Wolfe (the textbook baseline), with gap, Beckmann objective and TSTT.
//! - [`city`]: the Pitești case: zones, gravity-model demand, closures and capacity changes.

pub mod assignment;
pub mod city;
pub mod network;
pub mod shortest_path;

pub use assignment::{Algorithm, AssignmentOptions, AssignmentResult, Progress, assign};
pub use network::{AssignmentNetwork, CostWeights, Demand, NetworkError, TrafficLink};
