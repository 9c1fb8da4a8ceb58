//! EPANET Net1 against EPANET 2.2 (through wntr): every head and pressure within 0.01 m and
//! every flow within 1e-5 m³/s at t = 0, and the 24 h pressures within 0.05 m.

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

fn net1() -> EpanetNetwork {
    EpanetNetwork::parse(&read("Net1.inp")).unwrap()
}

#[test]
fn steady_state_at_t0_matches_epanet() {
    let net = net1();
    let snaps = simulate(&net, Some(0)).unwrap();
    assert_eq!(snaps.len(), 1);
    let s = &snaps[0];
    let node_ids = net.node_ids();
    for line in read("Net1_t0_nodes.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let i = node_ids.iter().position(|id| *id == f[0]).unwrap();
        let (head, pressure, demand): (f64, f64, f64) = (
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[5].parse().unwrap(),
        );
        assert!(
            (s.head_m[i] - head).abs() < 0.01,
            "node {}: head {} vs {head}",
            f[0],
            s.head_m[i]
        );
        assert!(
            (s.pressure_m[i] - pressure).abs() < 0.01,
            "node {}: pressure {} vs {pressure}",
            f[0],
            s.pressure_m[i]
        );
        assert!(
            (s.demand_m3s[i] - demand).abs() < 1e-5,
            "node {}: demand {} vs {demand}",
            f[0],
            s.demand_m3s[i]
        );
    }
    let link_ids = net.link_ids();
    for line in read("Net1_t0_links.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let k = link_ids.iter().position(|id| *id == f[0]).unwrap();
        let flow: f64 = f[1].parse().unwrap();
        assert!(
            (s.flow_m3s[k] - flow).abs() < 1e-5,
            "link {}: flow {} vs {flow}",
            f[0],
            s.flow_m3s[k]
        );
    }
    // Mass balance at every junction: inflow − outflow = demand.
    let mut balance = vec![0.0; node_ids.len()];
    let ends: Vec<(&str, &str)> = net
        .pipes
        .iter()
        .map(|p| (p.node1.as_str(), p.node2.as_str()))
        .chain(
            net.pumps
                .iter()
                .map(|p| (p.node1.as_str(), p.node2.as_str())),
        )
        .collect();
    for (k, (a, b)) in ends.iter().enumerate() {
        balance[node_ids.iter().position(|id| id == a).unwrap()] -= s.flow_m3s[k];
        balance[node_ids.iter().position(|id| id == b).unwrap()] += s.flow_m3s[k];
    }
    for (i, _) in net.junctions.iter().enumerate() {
        assert!(
            (balance[i] - s.demand_m3s[i]).abs() < 1e-9,
            "junction {} imbalance",
            net.junctions[i].id
        );
    }
}

#[test]
fn a_day_of_pressures_matches_epanet() {
    let net = net1();
    let snaps = simulate(&net, None).unwrap();
    let text = read("Net1_eps_pressure_m.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').skip(1).collect();
    let node_ids = net.node_ids();
    let mut checked = 0;
    for line in lines {
        let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let t = f[0] as u64;
        let s = snaps
            .iter()
            .find(|s| s.time_s == t)
            .unwrap_or_else(|| panic!("no result at {t} s"));
        for (c, id) in header.iter().enumerate() {
            let i = node_ids.iter().position(|n| n == id).unwrap();
            assert!(
                (s.pressure_m[i] - f[c + 1]).abs() < 0.05,
                "t {t} node {id}: {} vs {}",
                s.pressure_m[i],
                f[c + 1]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 25 * 11);
}

#[test]
fn darcy_weisbach_matches_epanet() {
    let net = EpanetNetwork::parse(&read("Net1_dw.inp")).unwrap();
    let s = &simulate(&net, Some(0)).unwrap()[0];
    let nodes = net.node_ids();
    let links = net.link_ids();
    for line in read("Net1_dw_t0.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v: f64 = f[2].parse().unwrap();
        if f[0] == "head_m" {
            let i = nodes.iter().position(|n| *n == f[1]).unwrap();
            assert!(
                (s.head_m[i] - v).abs() < 0.01,
                "node {}: {} vs {v}",
                f[1],
                s.head_m[i]
            );
        } else {
            let k = links.iter().position(|l| *l == f[1]).unwrap();
            assert!(
                (s.flow_m3s[k] - v).abs() < 1e-5,
                "link {}: {} vs {v}",
                f[1],
                s.flow_m3s[k]
            );
        }
    }
}
