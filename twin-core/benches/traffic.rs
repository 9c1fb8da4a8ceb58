//! Benchmark: traffic assignment speed.
//! Run with `cargo bench -p twin-core --bench traffic`.
//!
//! 1. A synthetic network of about 1,000 nodes, 3,000 links and 90,000 OD pairs (a 32 × 32 grid
//!    with two-way links, most of those on odd rows dropped, 300 zones spread over it, gravity-like
//!    demand loading it to v/c around 1), to a relative gap of 1e-4 on one core; goal under 10 s.
//! 2. Sioux Falls to 1e-8 (gradient projection) and to 1e-4 (Frank–Wolfe, for comparison).

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use twin_core::formats::tntp::{TntpNetwork, TntpTrips};
use twin_core::traffic::{
    Algorithm, AssignmentNetwork, AssignmentOptions, Demand, TrafficLink, assign,
};

fn synthetic(seed: u64) -> (AssignmentNetwork, Demand) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let side = 32u32;
    let zones = 300u32;
    // Zones are 300 of the grid nodes, renumbered first (they may carry through traffic here).
    let mut order: Vec<u32> = (0..side * side).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut index = vec![0u32; (side * side) as usize];
    for (new, &old) in order.iter().enumerate() {
        index[old as usize] = new as u32;
    }
    let mut links = Vec::new();
    for y in 0..side {
        for x in 0..side {
            for (dx, dy) in [(1, 0), (0, 1)] {
                // Columns are kept whole and so are even rows, so the grid stays connected;
                // most links of odd rows are dropped.
                if x + dx >= side
                    || y + dy >= side
                    || (dx == 1 && y % 2 == 1 && rng.random_bool(0.9))
                {
                    continue;
                }
                let (a, b) = (
                    index[(y * side + x) as usize],
                    index[((y + dy) * side + x + dx) as usize],
                );
                let arterial = (if dx == 1 { y } else { x }) % 4 == 0;
                let capacity = if arterial { 1_800.0 } else { 700.0 } * rng.random_range(0.8..1.2);
                let fft = rng.random_range(0.8..1.6) * if arterial { 0.8 } else { 1.0 };
                for (from, to) in [(a, b), (b, a)] {
                    links.push(TrafficLink {
                        from,
                        to,
                        capacity,
                        length: fft,
                        free_flow_time: fft,
                        b: 0.15,
                        power: 4.0,
                        toll: 0.0,
                    });
                }
            }
        }
    }
    let net = AssignmentNetwork::from_links((side * side) as usize, zones as usize, 0, links);
    let pos = |z: u32| {
        let old = order[z as usize];
        ((old % side) as f64, (old / side) as f64)
    };
    let mut triples = Vec::with_capacity((zones * zones) as usize);
    for o in 0..zones {
        for d in 0..zones {
            if o != d {
                let (a, b) = (pos(o), pos(d));
                let dist = (a.0 - b.0).abs() + (a.1 - b.1).abs();
                triples.push((
                    o,
                    d,
                    12.0 * (-dist / 12.0).exp() * rng.random_range(0.5..1.5),
                ));
            }
        }
    }
    (net, Demand::from_triples(triples))
}

fn run(
    label: &str,
    net: &AssignmentNetwork,
    demand: &Demand,
    algorithm: Algorithm,
    gap: f64,
    max_iterations: usize,
) {
    let options = AssignmentOptions {
        algorithm,
        target_gap: gap,
        max_iterations,
        ..Default::default()
    };
    let started = Instant::now();
    let r = assign(net, demand, &options, &mut |_| {}).expect("assignment runs");
    println!(
        "{label}: {algorithm:?} to gap {gap:e}: reached {:.3e} in {} iterations, {:.2} s (objective {:.3}, TSTT {:.3})",
        r.relative_gap,
        r.iterations,
        started.elapsed().as_secs_f64(),
        r.objective,
        r.tstt
    );
}

fn main() {
    let (net, demand) = synthetic(1);
    println!(
        "synthetic: {} nodes, {} links, {} OD pairs, {:.0} trips",
        net.node_count,
        net.links.len(),
        demand.pairs(),
        demand.total()
    );
    run(
        "synthetic",
        &net,
        &demand,
        Algorithm::GradientProjection,
        1e-4,
        500,
    );
    run(
        "synthetic",
        &net,
        &demand,
        Algorithm::GradientProjection,
        1e-6,
        500,
    );
    run("synthetic", &net, &demand, Algorithm::FrankWolfe, 1e-4, 300);

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/traffic");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).expect("Sioux Falls files");
    let tn = TntpNetwork::parse(&read("SiouxFalls_net.tntp")).expect("net parses");
    let tt = TntpTrips::parse(&read("SiouxFalls_trips.tntp")).expect("trips parse");
    let (sf, sfd) = AssignmentNetwork::from_tntp(&tn, &tt).expect("network builds");
    run(
        "Sioux Falls",
        &sf,
        &sfd,
        Algorithm::GradientProjection,
        1e-8,
        1_000,
    );
    run(
        "Sioux Falls",
        &sf,
        &sfd,
        Algorithm::FrankWolfe,
        1e-4,
        10_000,
    );
}
