//! The Dundee charging sessions (data/ev): the reader finds the complete sessions and energy
//! the data's SOURCES.md reports (computed independently with pandas), and the calibration
//! built on them is plausible.

use std::path::Path;

use twin_core::ev::{ChargingCalibration, read_dundee_sessions};

fn sessions() -> Vec<twin_core::ev::Session> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/ev/cp-data-mar-may-2018.csv");
    read_dundee_sessions(&path).expect("Dundee sessions")
}

#[test]
fn complete_sessions_and_energy_match_the_reference() {
    // SOURCES.md: 16,553 complete sessions, 144,136.751 kWh. Twelve of them record negative
    // energy (−343.480 kWh in all, meter errors), which the reader drops: 16,541 sessions and
    // 144,480.231 kWh remain (pandas on the same file).
    let s = sessions();
    assert_eq!(s.len(), 16_553 - 12);
    let energy: f64 = s.iter().map(|s| s.energy_kwh).sum();
    assert!((energy - (144_136.751 + 343.48)).abs() < 0.01, "{energy}");
}

#[test]
fn calibration_has_a_daytime_peak_and_the_mean_energy() {
    let c = ChargingCalibration::from_sessions(&sessions()).expect("calibration");
    assert_eq!(c.charge_points, 57);
    let night = c.arrivals_per_point_hour[3];
    let noon = c.arrivals_per_point_hour[12];
    assert!(noon > 4.0 * night, "noon {noon} vs 03:00 {night}");
    // The percentile model keeps the sample mean (8.735 kWh without the negative records) within a few percent.
    assert!(
        (c.mean_energy_kwh() - 8.735).abs() < 0.5,
        "{}",
        c.mean_energy_kwh()
    );
    assert!(c.energy_kwh(0.0) <= c.energy_kwh(0.5) && c.energy_kwh(0.5) <= c.energy_kwh(0.99));
}

/// The reference hourly mean load (`dundee_mar_may_2018_hourly_mean_kW.csv`, pandas).
fn reference_profile() -> Vec<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/ev/dundee_mar_may_2018_hourly_mean_kW.csv");
    let text = std::fs::read_to_string(path).expect("reference profile");
    text.lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|v| v.trim().parse().ok())
                .expect("hour,kW")
        })
        .collect()
}

#[test]
fn the_calibrated_model_reproduces_the_hourly_load_profile_of_the_data() {
    use rand::SeedableRng;
    use twin_core::ev::calibration::{DemandFit, correlation, even_spread_profile};
    let s = sessions();
    let reference = reference_profile();
    assert_eq!(reference.len(), 24);
    let origin = s.iter().map(|x| x.start).min().expect("sessions").date();
    let origin = origin.and_hms_opt(0, 0, 0).expect("midnight");
    let hours = |t: chrono::NaiveDateTime| (t - origin).num_seconds() as f64 / 3600.0;
    let days = 92;
    // The data through the same even spread: the same shape as the reference.
    let data = even_spread_profile(
        s.iter()
            .map(|x| (hours(x.start), hours(x.end) - hours(x.start), x.energy_kwh)),
        days,
    );
    assert!(correlation(&data, &reference) > 0.99, "{data:?}");

    // The model: the fitted arrivals, plug-in times and energies on the same charge points for
    // the same days, for three seeds.
    let fit = DemandFit::from_sessions(&s).expect("fit");
    assert_eq!(fit.ac.charge_points + fit.rapid.charge_points, 57);
    for seed in [2018, 1, 7] {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut simulated = Vec::new();
        for class in [&fit.ac, &fit.rapid] {
            for day in 0..days {
                for h in 0..24 {
                    let lambda = class.arrivals_per_point_day[h] * class.charge_points as f64;
                    for _ in 0..twin_core::sampling::poisson(&mut rng, lambda) {
                        let (dwell, energy) = class.sample(h, &mut rng);
                        let start =
                            day as f64 * 24.0 + h as f64 + rand::Rng::random::<f64>(&mut rng);
                        simulated.push((start, dwell, energy));
                    }
                }
            }
        }
        let model = even_spread_profile(simulated, days);
        let r = correlation(&model, &reference);
        let peak = |p: &[f64]| p.iter().copied().fold(f64::MIN, f64::max);
        let (pm, pr) = (peak(&model), peak(&reference));
        println!(
            "hourly mean kW, model vs data: {:?}",
            model
                .iter()
                .zip(&reference)
                .map(|(m, d)| (m.round(), d.round()))
                .collect::<Vec<_>>()
        );
        println!("correlation {r:.3}, peak {pm:.1} kW against {pr:.1} kW");
        assert!(r >= 0.9, "correlation {r}");
        assert!((pm / pr - 1.0).abs() <= 0.15, "peak {pm} against {pr}");
    }
}
