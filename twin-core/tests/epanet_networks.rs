//! WNTR's EPANET example networks against EPANET 2.2's own heads and flows at every reporting
//! time (golden files written by `scripts/compare/epanet_golden.py` from the toolkit bundled
//! with wntr; the inputs are in data/water/epanet, see data/water/SOURCES.md). The acceptance
//! of the water solver: 0.001 m of head and 0.01 l/s of flow.

use std::path::PathBuf;

use twin_core::formats::epanet::EpanetNetwork;
use twin_core::water::{HydModel, Snapshot, run, simulate};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/water/epanet")
        .join(name)
}

/// (ids, rows of (time, values)) of a golden CSV.
fn golden(name: &str) -> (Vec<String>, Vec<(u64, Vec<f64>)>) {
    let text = std::fs::read_to_string(path(name)).expect("golden file");
    let mut lines = text.lines();
    let ids = lines
        .next()
        .expect("header")
        .split(',')
        .skip(1)
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            let mut f = l.split(',');
            let t = f.next().and_then(|t| t.parse().ok()).expect("time");
            (t, f.map(|x| x.parse().expect("number")).collect())
        })
        .collect();
    (ids, rows)
}

/// The largest head difference (m) and flow difference (l/s) against EPANET over every
/// reporting time, with where they are; `skip` names nodes left out of the head comparison.
fn compare(network: &str, hours: u64, skip: &[&str]) -> ((f64, String), (f64, String)) {
    let text = std::fs::read_to_string(path(&format!("{network}.inp"))).expect("inp");
    let net = EpanetNetwork::parse(&text).expect("parses");
    let snaps = simulate(&net, Some(hours * 3600)).expect("solves");
    let at = |t: u64| -> &Snapshot { snaps.iter().find(|s| s.time_s == t).expect("report time") };
    let nodes = net.node_ids();
    let links = net.link_ids();
    let (ids, rows) = golden(&format!("{network}_heads.csv"));
    assert_eq!(rows.len(), snaps.len(), "{network}: reporting times");
    let mut head = (0.0, String::new());
    for (t, values) in &rows {
        let s = at(*t);
        for (id, h) in ids.iter().zip(values) {
            let i = nodes.iter().position(|n| n == id).expect("node");
            if skip.contains(&id.as_str()) || s.disconnected.contains(&i) {
                continue;
            }
            let d = (s.head_m[i] - h).abs();
            if d > head.0 {
                head = (d, format!("{id} at {t} s"));
            }
        }
    }
    let (ids, rows) = golden(&format!("{network}_flows.csv"));
    let mut flow = (0.0, String::new());
    for (t, values) in &rows {
        let s = at(*t);
        for (id, q) in ids.iter().zip(values) {
            let k = links.iter().position(|l| l == id).expect("link");
            let d = (s.flow_m3s[k] * 1000.0 - q).abs();
            if d > flow.0 {
                flow = (d, format!("{id} at {t} s"));
            }
        }
    }
    (head, flow)
}

fn assert_within(network: &str, hours: u64, skip: &[&str]) {
    let (head, flow) = compare(network, hours, skip);
    assert!(
        head.0 < 1e-3,
        "{network}: head differs from EPANET's by {:.4} m ({})",
        head.0,
        head.1
    );
    assert!(
        flow.0 < 1e-2,
        "{network}: flow differs from EPANET's by {:.4} l/s ({})",
        flow.0,
        flow.1
    );
}

#[test]
fn net2_over_55_hours_as_epanet() {
    // Multi-point pump curve, tank-level controls, demand patterns.
    assert_within("Net2", 55, &[]);
}

#[test]
fn net3_over_a_week_as_epanet() {
    // Two pumps on time controls, three tanks, a reservoir with a head pattern.
    assert_within("Net3", 168, &[]);
}

#[test]
fn rules_over_a_week_as_epanet() {
    // Net3 with its controls rewritten as [RULES], plus premises on clock time, elapsed time
    // (=), tank level, fill time, system demand, link flow, status and junction pressure,
    // ELSE actions, speed settings and priorities: 51 rule actions in EPANET's run.
    assert_within("Net3_rules", 168, &[]);
}

#[test]
fn rule_errors_name_the_line_as_epanet_does() {
    let text = std::fs::read_to_string(path("Net3_rules.inp")).expect("inp");
    let misplaced = text.replacen("THEN PUMP 10 STATUS IS OPEN", "PRIORITY 3", 1);
    let net = EpanetNetwork::parse(&misplaced).expect("parses");
    let err = simulate(&net, Some(0)).unwrap_err().to_string();
    assert!(
        err.contains("[RULES] line") && err.contains("error 221"),
        "{err}"
    );
    let unknown = text.replacen(
        "IF TANK 1 LEVEL BELOW 17.1",
        "IF TANK 99 LEVEL BELOW 17.1",
        1,
    );
    let err = simulate(&EpanetNetwork::parse(&unknown).expect("parses"), Some(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown node 99") && err.contains("error 203"),
        "{err}"
    );
}

#[test]
fn pump_energy_and_cost_as_epanet() {
    // Net3 with a price, a price pattern, an efficiency curve on pump 10, a price of pump 335's
    // own and a demand charge; EPANET's figures are those of its energy report (2 decimals).
    let text = std::fs::read_to_string(path("Net3_energy.inp")).expect("inp");
    let model =
        HydModel::from_epanet(&EpanetNetwork::parse(&text).expect("parses")).expect("model");
    let energy = run(&model, Some(168 * 3600)).expect("solves").energy;
    let golden = std::fs::read_to_string(path("Net3_energy_pumps.csv")).expect("golden");
    for line in golden.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let p = energy.pumps.iter().find(|p| p.id == f[0]).expect("pump");
        let ours = [
            p.utilization_percent,
            p.efficiency_percent,
            p.kwh_per_m3,
            p.average_kw,
            p.peak_kw,
            p.cost_per_day,
        ];
        for (x, e) in ours.iter().zip(&f[1..]) {
            let e: f64 = e.parse().expect("number");
            // EPANET prints two decimals; kWh/m³ comes from kWh/Mgal printed with two.
            assert!(
                (x - e).abs() <= 0.006 + 1e-4 * e.abs(),
                "pump {}: {x} against EPANET's {e}",
                p.id
            );
        }
    }
    // The demand charge is the peak total power times the charge (EPANET's binary output;
    // its text report multiplies by the charge twice).
    assert!((energy.demand_charge - energy.peak_kw * 3.5).abs() < 1e-9);
    assert!(energy.peak_kw > 310.0 && energy.peak_kw < 64.1 + 310.8);
}

#[test]
fn every_hydraulic_feature_as_epanet() {
    // A small network in CMH with D-W, VISCOSITY and SPECIFIC GRAVITY, a zero-diameter tank
    // (EPANET holds its level), GPV, PBV, TCV, a check valve, a pump speed pattern, an emitter
    // exponent, tank and clock-time controls with START CLOCKTIME; then the same with a
    // volume-curve tank, with Chezy–Manning, and with pressure-driven demand.
    for network in ["features", "features_vcurve", "features_cm", "features_pda"] {
        assert_within(network, 30, &[]);
    }
}

/// The largest difference of node quality against EPANET's over every reporting time, relative
/// to the largest quality of the run (the acceptance is 1e-3).
fn quality_difference(network: &str, golden_name: &str) -> (f64, String) {
    let text = std::fs::read_to_string(path(&format!("{network}.inp"))).expect("inp");
    let net = EpanetNetwork::parse(&text).expect("parses");
    let snaps = simulate(&net, Some(168 * 3600)).expect("solves");
    let nodes = net.node_ids();
    let (ids, rows) = golden(golden_name);
    let top = rows
        .iter()
        .flat_map(|(_, v)| v.iter())
        .fold(0.0f64, |a, b| a.max(b.abs()));
    let mut worst = (0.0, String::new());
    for (t, values) in &rows {
        let s = snaps.iter().find(|s| s.time_s == *t).expect("report time");
        for (id, c) in ids.iter().zip(values) {
            let i = nodes.iter().position(|n| n == id).expect("node");
            let d = (s.quality[i] - c).abs() / top;
            if d > worst.0 {
                worst = (d, format!("{id} at {t} s"));
            }
        }
    }
    worst
}

#[test]
fn water_quality_over_a_week_as_epanet() {
    // Net3: the trace of the Lake's water; water age; chlorine with sources of every type
    // (SETPOINT, CONCEN, MASS, FLOWPACED), bulk order 1.5 with a limiting potential, first-order
    // wall reactions, per-pipe and per-tank coefficients, tanks mixing as 2COMP, FIFO and LIFO;
    // then second-order bulk, zero-order wall and the roughness correlation.
    for (network, golden_file) in [
        ("Net3", "Net3_trace_quality.csv"),
        ("Net3_age", "Net3_age_quality.csv"),
        ("Net3_chlorine", "Net3_chlorine_quality.csv"),
        ("Net3_wall0", "Net3_wall0_quality.csv"),
    ] {
        let (d, at) = quality_difference(network, golden_file);
        assert!(
            d < 1e-3,
            "{network}: quality differs from EPANET's by {d:.2e} of its largest value ({at})"
        );
    }
}

#[test]
fn ky4_over_24_hours_as_epanet() {
    // Constant-power pumps switched by tank levels, tanks filling and emptying.
    assert_within("ky4", 24, &[]);
}

#[test]
fn ky10_at_the_start_as_epanet() {
    // 13 constant-power pumps and 5 PRVs. Behind Pump-11 (open, delivering no flow) and PRV
    // RV-4 (closed), junctions I-RV-4 and O-Pump-11 carry no flow at all: their head is not
    // determined by the equations and EPANET's value is round-off (1e-13 cfs through a
    // resistance of 1e8); they are left out. Every other node and every flow matches.
    assert_within("ky10", 0, &["I-RV-4", "O-Pump-11"]);
}
