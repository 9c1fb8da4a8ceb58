//! Benchmark: CVRP solution quality against best-known solutions under a time limit.
//! Run with `cargo bench -p twin-core --bench routing`.
//!
//! - CMT3 (100 customers, unrounded distances, best known 826.14): goal within 1 % in 10 s.
//! - X-n670-k130 (669 customers, rounded distances, best known 146,332): the largest CVRPLIB
//!   instance available offline here; goal for ~1,000 customers is within 4 % in 60 s.
//! - A-n32-k5 (optimal 784): time to the optimum.

use std::path::PathBuf;
use std::time::Instant;

use twin_core::formats::vrplib::VrplibInstance;
use twin_core::routing::{Budget, CvrpProblem, SolveOptions, solve};

fn run(file: &str, round: bool, best_known: f64, seconds: f64, seeds: &[u64]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/routing");
    let inst =
        VrplibInstance::parse(&std::fs::read_to_string(dir.join(file)).expect("instance file"))
            .expect("parses");
    let p = CvrpProblem::from_vrplib(&inst, round).expect("a feasible instance");
    for &seed in seeds {
        let started = Instant::now();
        let s = solve(
            &p,
            &SolveOptions {
                seed,
                budget: Budget::Seconds(seconds),
                target_cost: Some(best_known),
            },
        );
        println!(
            "{file} seed {seed}: cost {:.2} ({} routes), {:+.2} % vs best known {best_known}, {:.1} s",
            s.cost,
            s.routes.len(),
            (s.cost / best_known - 1.0) * 100.0,
            started.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    run("A-n32-k5.vrp", true, 784.0, 5.0, &[1, 2, 3]);
    run("CMT3.vrp", false, 826.14, 10.0, &[1, 2, 3]);
    run("X-n670-k130.vrp", true, 146_332.0, 60.0, &[1]);
}
