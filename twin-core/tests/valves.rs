//! Pressure reducing, pressure sustaining and flow control valves against EPANET 2.2 (through
//! wntr) on a small network where all three are active (data/water/valves.inp).

use std::path::PathBuf;

use twin_core::formats::epanet::EpanetNetwork;
use twin_core::water::simulate;

fn read(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/water")
            .join(name),
    )
    .unwrap()
}

#[test]
fn active_valves_match_epanet() {
    let net = EpanetNetwork::parse(&read("valves.inp")).unwrap();
    let s = &simulate(&net, Some(0)).unwrap()[0];
    let nodes = net.node_ids();
    for line in read("valves_t0_nodes.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let i = nodes.iter().position(|n| *n == f[0]).unwrap();
        let head: f64 = f[1].parse().unwrap();
        assert!(
            (s.head_m[i] - head).abs() < 0.01,
            "{}: head {} vs {head}",
            f[0],
            s.head_m[i]
        );
    }
    let links = net.link_ids();
    for line in read("valves_t0_links.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let k = links.iter().position(|l| *l == f[0]).unwrap();
        let flow: f64 = f[1].parse().unwrap();
        assert!(
            (s.flow_m3s[k] - flow).abs() < 1e-5,
            "{}: flow {} vs {flow}",
            f[0],
            s.flow_m3s[k]
        );
    }
}

#[test]
fn a_prv_opens_when_the_source_falls_below_its_setting() {
    // With the source at 92 m the PRV cannot hold its 95 m downstream head: it passes flow
    // fully open and J3 sits below 95 m.
    let text = read("valves.inp").replace("R1\t180", "R1\t92");
    let net = EpanetNetwork::parse(&text).unwrap();
    let s = &simulate(&net, Some(0)).unwrap()[0];
    let j3 = net.junctions.iter().position(|j| j.id == "J3").unwrap();
    assert!(
        s.head_m[j3] < 95.0 - 0.01,
        "J3 at {} m: the PRV should be open, not holding 95 m",
        s.head_m[j3]
    );
}
