//! Benchmark: load the Pitești bundle (`data/pitesti`) into a `CityModel`.
//! Run with `cargo bench -p twin-core --bench load_city`; the goal is under 1 s in release.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti");
    let runs = 10;
    let mut times = Vec::with_capacity(runs);
    let mut entities = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let city = twin_core::load_city(&dir).expect("data/pitesti loads");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        entities = city.entities().len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "load_city data/pitesti: {entities} entities; {runs} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times[0],
        times[runs / 2],
        times[runs - 1]
    );
    let started = Instant::now();
    let bundle = twin_core::synth::synth_pitesti(1).expect("the generator runs");
    println!(
        "synth_pitesti seed 1: {} files in {:.1} ms",
        bundle.files.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
