//! Benchmark: power load flow and water hydraulics.
//! Run with `cargo bench -p twin-core --bench utilities`.
//!
//! Power: case33bw, a synthetic radial feeder of 1,000 buses (goal < 1 ms) and the Pitești
//! grid (goal < 5 ms). Water: Net1 and the Pitești network (3,224 junctions), single period and
//! 24 h, to set beside EPANET 2.2's toolkit times (see docs/benchmarks.md for those).

use std::path::PathBuf;
use std::time::Instant;

use twin_core::formats::epanet::EpanetNetwork;
use twin_core::formats::matpower::{Branch, Bus, BusType, Gen, MatpowerCase};
use twin_core::power::solve_load_flow;
use twin_core::water::simulate;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn radial_feeder(buses: u32) -> MatpowerCase {
    let bus = |id: u32, kind: BusType, pd: f64| Bus {
        id,
        bus_type: kind,
        pd_mw: pd,
        qd_mvar: pd * 0.4,
        gs_mw: 0.0,
        bs_mvar: 0.0,
        area: 1,
        vm_pu: 1.0,
        va_deg: 0.0,
        base_kv: 20.0,
        zone: 1,
        vmax_pu: 1.1,
        vmin_pu: 0.9,
    };
    let mut b = vec![bus(1, BusType::Ref, 0.0)];
    let mut br = Vec::new();
    for id in 2..=buses {
        b.push(bus(id, BusType::Pq, 0.004));
        // A main line with laterals: every 10th bus starts a branch from the main line.
        let parent = if id % 10 == 0 || id < 3 {
            (id - 1).max(1)
        } else {
            id - 1
        };
        br.push(Branch {
            from: parent,
            to: id,
            r_pu: 0.0005,
            x_pu: 0.0003,
            b_pu: 0.0,
            rate_a_mva: 20.0,
            ratio: 0.0,
            shift_deg: 0.0,
            in_service: true,
        });
    }
    MatpowerCase {
        name: "feeder1000".into(),
        base_mva: 10.0,
        bus: b,
        generators: vec![Gen {
            bus: 1,
            pg_mw: 0.0,
            qg_mvar: 0.0,
            qmax_mvar: 10.0,
            qmin_mvar: -10.0,
            vg_pu: 1.0,
            mbase_mva: 10.0,
            in_service: true,
            pmax_mw: 10.0,
            pmin_mw: 0.0,
        }],
        branch: br,
        bus_names: vec![],
        unevaluated: vec![],
    }
}

fn main() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data");
    let mut case33 = MatpowerCase::parse(
        &std::fs::read_to_string(data.join("power/case33bw.m")).expect("case33bw"),
    )
    .expect("parses");
    case33.apply_known_conversions();
    let city = twin_core::load_city(&data.join("pitesti")).expect("Pitești loads");
    let pitesti = city.power_case.clone().expect("power layer");
    for (label, case) in [
        ("case33bw", &case33),
        ("radial feeder, 1,000 buses", &radial_feeder(1000)),
        ("Pitești (615 buses)", &pitesti),
    ] {
        let (ms, r) = best_of(20, || solve_load_flow(case, None, 1.0).expect("solves"));
        println!(
            "power {label}: {} iterations, losses {:.3} kW, best of 20: {ms:.3} ms",
            r.iterations, r.p_loss_kw
        );
    }
    let net1 =
        EpanetNetwork::parse(&std::fs::read_to_string(data.join("water/Net1.inp")).expect("Net1"))
            .expect("parses");
    let water = city.water_network.clone().expect("water layer");
    for (label, net) in [("Net1", &net1), ("Pitești (3,224 junctions)", &water)] {
        let (single, s) = best_of(5, || simulate(net, Some(0)).expect("solves"));
        let (day, d) = best_of(5, || simulate(net, Some(86_400)).expect("solves"));
        println!(
            "water {label}: t = 0 in {} trials, best of 5: {single:.2} ms; 24 h ({} reports): {day:.2} ms",
            s[0].trials,
            d.len()
        );
    }
}
