//! The CVRP solver on CVRPLIB's A-n32-k5 (optimal 784): found within 5 s, and the published
//! optimal solution passes the checker at exactly its stated cost.

use std::path::PathBuf;
use std::time::Instant;

use twin_core::formats::vrplib::{VrplibInstance, parse_solution};
use twin_core::routing::{Budget, CvrpProblem, CvrpSolution, SolveOptions, solve};

fn read(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/routing")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_published_optimum_checks_at_784() {
    let inst = VrplibInstance::parse(&read("A-n32-k5.vrp")).unwrap();
    let p = CvrpProblem::from_vrplib(&inst, true).expect("a feasible instance");
    let (routes, cost) = parse_solution(&read("A-n32-k5.sol")).unwrap();
    assert_eq!(cost, 784.0);
    // .sol customers are numbered node id − 1; with the depot at node 1 that is our index.
    let solution = CvrpSolution { routes, cost };
    assert_eq!(p.check(&solution).unwrap(), 784.0);
    // A broken copy is refused.
    let mut broken = solution.clone();
    let twice = broken.routes[1][0];
    broken.routes[0].push(twice);
    assert!(p.check(&broken).is_err());
}

#[test]
fn a_n32_k5_reaches_the_optimum_within_5_seconds() {
    let inst = VrplibInstance::parse(&read("A-n32-k5.vrp")).unwrap();
    let p = CvrpProblem::from_vrplib(&inst, true).expect("a feasible instance");
    let started = Instant::now();
    let options = SolveOptions {
        seed: 1,
        budget: Budget::Seconds(5.0),
        target_cost: Some(784.0),
    };
    let s = solve(&p, &options);
    eprintln!(
        "A-n32-k5: {} in {:.2} s",
        s.cost,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(p.check(&s).unwrap(), s.cost);
    assert_eq!(s.cost, 784.0);
}
