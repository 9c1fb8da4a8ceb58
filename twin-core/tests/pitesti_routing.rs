//! Road-distance matrices on the Pitești street graph and routes over them.

use std::path::PathBuf;

use twin_core::entity::{Asset, AssetKind, WasteKind};
use twin_core::routing::road_matrix::road_distance_matrix;
use twin_core::routing::{Budget, CvrpProblem, SolveOptions, solve};

#[test]
fn routes_over_pitesti_streets_follow_the_road_distances() {
    let city =
        twin_core::load_city(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti"))
            .unwrap();
    // The depot and 40 glass bins spread over the city.
    let glass: Vec<_> = city
        .entities_of(AssetKind::WasteBin)
        .filter(
            |e| matches!(&e.asset, Asset::WasteBin(b) if b.stored_waste_kind == WasteKind::Glass),
        )
        .step_by(12)
        .take(40)
        .collect();
    assert_eq!(glass.len(), 40);
    let mut points = vec![city.meta.centre];
    points.extend(glass.iter().map(|e| e.location));
    let m = road_distance_matrix(&city, &points);
    let n = points.len();
    for i in 0..n {
        for j in 0..n {
            let d = m[i * n + j];
            assert!(d.is_finite(), "{i} → {j} unreachable");
            // Along the streets is never shorter than as the crow flies (1 m of rounding).
            assert!(
                d + 1.0 >= points[i].distance_m(points[j]),
                "{i} → {j}: {d} m"
            );
        }
    }
    // Streets wind: on average road distances exceed straight lines by a detour factor > 1.
    let (mut road, mut air) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            road += m[i * n + j];
            air += points[i].distance_m(points[j]);
        }
    }
    assert!(
        road / air > 1.05 && road / air < 2.0,
        "detour factor {}",
        road / air
    );

    // A truck of 10 bins' capacity: feasible routes whose cost is their road length.
    let problem = CvrpProblem {
        name: "pitesti-glass".into(),
        n,
        capacity: 10,
        demand: std::iter::once(0)
            .chain(std::iter::repeat_n(1, n - 1))
            .collect(),
        dist: m.clone(),
        file_index: (0..n).collect(),
        service_time: 0.0,
        max_route_duration: None,
        vehicles: None,
    };
    let s = solve(
        &problem,
        &SolveOptions {
            seed: 1,
            budget: Budget::Iterations(3_000),
            target_cost: None,
        },
    );
    assert!(s.routes.len() >= 4);
    assert_eq!(problem.check(&s).unwrap(), s.cost);
}
