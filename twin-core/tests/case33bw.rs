//! Load flow of the Baran & Wu 33-bus feeder (MATPOWER case33bw) against pandapower:
//! losses 202.677 kW, minimum voltage 0.913090 pu at bus 18, every bus within 1e-6 pu.

use std::path::PathBuf;

use twin_core::formats::matpower::MatpowerCase;
use twin_core::power::solve_load_flow;

fn read(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/power")
            .join(name),
    )
    .unwrap()
}

#[test]
fn case33bw_matches_pandapower() {
    let mut case = MatpowerCase::parse(&read("case33bw.m")).unwrap();
    assert!(
        !case.unevaluated.is_empty(),
        "the case converts ohms and kW after its data"
    );
    assert!(
        solve_load_flow(&case, None, 1.0).is_err(),
        "unconverted units are refused"
    );
    case.apply_known_conversions();
    assert!(case.unevaluated.is_empty(), "{:?}", case.unevaluated);
    let r = solve_load_flow(&case, None, 1.0).unwrap();
    assert!(
        (r.p_loss_kw - 202.677).abs() < 0.001,
        "losses {}",
        r.p_loss_kw
    );
    assert!(
        (r.q_loss_kvar - 135.141).abs() < 0.001,
        "reactive losses {}",
        r.q_loss_kvar
    );
    let (k, vmin) = r
        .vm_pu
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    assert_eq!(case.bus[k].id, 18);
    assert!((vmin - 0.913090).abs() < 1e-6, "{vmin}");
    assert!((r.slack_p_kw - 3917.677).abs() < 0.01 && (r.slack_q_kvar - 2435.141).abs() < 0.01);
    check_buses(&case, &r, "case33bw_result_pandapower.csv");
}

#[test]
fn case33bw_with_its_five_ties_closed_matches_pandapower() {
    // Weakly meshed: closing the five tie switches makes five loops.
    let mut case = MatpowerCase::parse(&read("case33bw.m")).unwrap();
    case.apply_known_conversions();
    let closed = vec![true; case.branch.len()];
    let r = solve_load_flow(&case, Some(&closed), 1.0).unwrap();
    assert!(
        (r.p_loss_kw - 123.29083).abs() < 1e-3,
        "losses {}",
        r.p_loss_kw
    );
    check_buses(&case, &r, "case33bw_meshed_pandapower.csv");
    let load: f64 = case.bus.iter().map(|b| b.pd_mw * 1000.0).sum();
    assert!((r.slack_p_kw - load - r.p_loss_kw).abs() < 1e-6);
}

/// Every bus within 1e-6 pu and 1e-4 degrees of pandapower's result in `reference` (a CSV).
fn check_buses(case: &MatpowerCase, r: &twin_core::power::LoadFlowResult, reference: &str) {
    for line in read(reference).lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let i = case
            .bus
            .iter()
            .position(|b| f64::from(b.id) == f[0])
            .unwrap();
        assert!(
            (r.vm_pu[i] - f[1]).abs() < 1e-6,
            "bus {}: {} vs {}",
            f[0],
            r.vm_pu[i],
            f[1]
        );
        assert!(
            (r.va_deg[i] - f[2]).abs() < 1e-4,
            "bus {} angle: {} vs {}",
            f[0],
            r.va_deg[i],
            f[2]
        );
    }
}
