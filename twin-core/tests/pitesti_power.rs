//! The Pitești 20 kV grid: a healthy load flow in band, and outages restored by tie switches.

use std::path::PathBuf;

use twin_core::entity::{Asset, AssetKind};
use twin_core::power::outage::{RestorationLimits, analyse_power_outage, customers_served};
use twin_core::power::reliability::{SUSTAINED_THRESHOLD_MIN, reliability_indices};
use twin_core::power::solve_load_flow;

fn city() -> twin_core::CityModel {
    twin_core::load_city(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti"))
        .unwrap()
}

#[test]
fn the_healthy_grid_is_within_voltage_band_and_ratings() {
    let city = city();
    let case = city.power_case.as_ref().unwrap();
    let r = solve_load_flow(case, None, 1.0).unwrap();
    assert!(r.energised.iter().all(|&e| e));
    for (i, v) in r.vm_pu.iter().enumerate() {
        assert!(
            (0.95..=1.05).contains(v),
            "bus {} at {v} pu",
            case.bus[i].id
        );
    }
    assert!(
        r.branches
            .iter()
            .all(|b| b.loading_pct.is_none_or(|l| l <= 100.0))
    );
    let load: f64 = case.bus.iter().map(|b| b.pd_mw * 1000.0).sum();
    assert!((r.slack_p_kw - load - r.p_loss_kw).abs() < 1e-6 * load);
}

#[test]
fn a_feeder_head_fault_is_restored_through_tie_switches() {
    let city = city();
    // The first line leaving substation bus 2: it feeds a whole feeder.
    let head = city
        .entities_of(AssetKind::PowerLine)
        .find(|e| matches!(&e.asset, Asset::PowerLine(l) if l.from_bus == 2))
        .unwrap()
        .id
        .clone();
    let o = analyse_power_outage(
        &city,
        std::slice::from_ref(&head),
        &RestorationLimits::default(),
        1.0,
    )
    .unwrap();
    assert!(o.customers_interrupted > 0 && !o.posts_interrupted.is_empty());
    assert!(
        !o.switching.is_empty(),
        "a tie switch should pick up the feeder"
    );
    let restored: u32 = o.switching.iter().map(|s| s.customers_restored).sum();
    assert_eq!(restored + o.customers_not_restored, o.customers_interrupted);
    assert!(
        o.min_voltage_pu.is_some_and(|v| v >= 0.90)
            && o.max_loading_pct.is_some_and(|l| l <= 100.0)
    );

    // Indices for this one event over a year: switching after 30 min, repair after 4 h.
    let served = customers_served(&city);
    let r = reliability_indices(
        &o.interruptions(30.0, 240.0),
        served,
        SUSTAINED_THRESHOLD_MIN,
    );
    assert!((r.saifi - f64::from(o.customers_interrupted) / f64::from(served)).abs() < 1e-12);
    assert!(r.saidi_min > 0.0 && r.caidi_min >= 30.0 && r.caidi_min <= 240.0);
    assert!(r.ens_kwh > 0.0);
}

#[test]
fn losing_a_substation_cuts_all_its_feeders() {
    let city = city();
    let substation = city
        .entities_of(AssetKind::Substation)
        .next()
        .unwrap()
        .id
        .clone();
    let o = analyse_power_outage(&city, &[substation], &RestorationLimits::default(), 1.0).unwrap();
    let total = customers_served(&city);
    assert!(
        o.customers_interrupted > total / 10,
        "{} of {total}",
        o.customers_interrupted
    );
    assert!(o.min_voltage_pu.is_some_and(|v| v >= 0.90));
    let err = analyse_power_outage(
        &city,
        &["bin:1".parse().unwrap()],
        &RestorationLimits::default(),
        1.0,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("bin:1 is not an element of the power network")
    );
}
