//! Traffic assignment on Sioux Falls (TransportationNetworks), against the best-known user
//! equilibrium: objective 4,231,335.287 and TSTT 7,480,225.345 within 0.001 %, every link flow
//! within 0.5 % of SiouxFalls_flow.tntp.

use std::path::PathBuf;

use twin_core::formats::tntp::{TntpNetwork, TntpTrips, parse_flow_file};
use twin_core::traffic::{Algorithm, AssignmentNetwork, AssignmentOptions, assign};

fn read(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/traffic")
            .join(name),
    )
    .unwrap()
}

#[test]
fn gradient_projection_reaches_the_best_known_equilibrium() {
    let net = TntpNetwork::parse(&read("SiouxFalls_net.tntp")).unwrap();
    let trips = TntpTrips::parse(&read("SiouxFalls_trips.tntp")).unwrap();
    let (network, demand) = AssignmentNetwork::from_tntp(&net, &trips).unwrap();
    assert_eq!(demand.total(), 360_600.0);
    let options = AssignmentOptions {
        algorithm: Algorithm::GradientProjection,
        target_gap: 1e-8,
        max_iterations: 500,
        ..Default::default()
    };
    let r = assign(&network, &demand, &options, &mut |_| {}).unwrap();
    eprintln!(
        "iterations {} gap {:e} objective {} tstt {}",
        r.iterations, r.relative_gap, r.objective, r.tstt
    );
    assert!(r.relative_gap <= 1e-8);
    let within = |got: f64, want: f64| (got - want).abs() <= 1e-5 * want;
    assert!(
        within(r.objective, 4_231_335.287),
        "objective {}",
        r.objective
    );
    assert!(within(r.tstt, 7_480_225.345), "tstt {}", r.tstt);
    let reference = parse_flow_file(&read("SiouxFalls_flow.tntp")).unwrap();
    assert_eq!(reference.len(), network.links.len());
    for (from, to, volume, cost) in reference {
        let a = network
            .links
            .iter()
            .position(|l| l.from + 1 == from && l.to + 1 == to)
            .unwrap();
        assert!(
            (r.flows[a] - volume).abs() <= 5e-3 * volume,
            "link {from}→{to}: {} vs {volume}",
            r.flows[a]
        );
        assert!((r.costs[a] - cost).abs() <= 5e-3 * cost);
    }
}

#[test]
fn frank_wolfe_gets_close_but_slowly() {
    let net = TntpNetwork::parse(&read("SiouxFalls_net.tntp")).unwrap();
    let trips = TntpTrips::parse(&read("SiouxFalls_trips.tntp")).unwrap();
    let (network, demand) = AssignmentNetwork::from_tntp(&net, &trips).unwrap();
    let options = AssignmentOptions {
        algorithm: Algorithm::FrankWolfe,
        target_gap: 1e-3,
        max_iterations: 2_000,
        ..Default::default()
    };
    let r = assign(&network, &demand, &options, &mut |_| {}).unwrap();
    assert!(r.relative_gap <= 1e-3);
    assert!(
        (r.objective - 4_231_335.287).abs() <= 1e-3 * 4_231_335.287,
        "objective {}",
        r.objective
    );
}
