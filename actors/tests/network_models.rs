//! The network models inside the live twin: their inputs survive a restart (estimates and
//! alerts after it equal those before), and a model that panics is supervised: counted, shown
//! as degraded, its last good estimates kept, and it solves again once its input changes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use twin_actors::network::{Injections, NetworkKind, SolveFn, SolvePolicy, Solved, solve_network};
use twin_actors::twin::{LiveTwin, TwinConfig};
use twin_core::entity::Asset;
use twin_core::{CityModel, EntityId};

fn pitesti() -> Arc<CityModel> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti");
    Arc::new(twin_core::load_city(&dir).expect("Pitești bundle"))
}

fn config(dir: &Path, solve: SolveFn) -> TwinConfig {
    let mut c = TwinConfig::new(dir);
    c.arbiters = 2;
    c.snapshot_every = Duration::from_secs(3600);
    // Tests run wherever /tmp is: the free-space margin has its own test (a small tmpfs).
    c.min_free_bytes = 0;
    c.solve_policy = SolvePolicy {
        poll: Duration::from_millis(50),
        min_period: Duration::from_millis(100),
        solve,
    };
    c
}

/// The id of the first entity whose asset passes `pick`.
fn first(city: &CityModel, pick: fn(&Asset) -> bool) -> EntityId {
    city.entities()
        .iter()
        .find(|e| pick(&e.asset))
        .map(|e| e.id.clone())
        .expect("such an entity in Pitești")
}

/// A reading now, through the twin's one way in; panics unless it was accepted.
async fn send(twin: &LiveTwin, entity: &EntityId, values: serde_json::Value) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let raw = twin_core::reading::RawReading {
        entity: entity.to_string(),
        observed_at: now,
        values: serde_json::from_value(values).expect("object"),
    };
    let outcome = twin
        .ingest_durable(vec![Ok(raw)], None)
        .await
        .expect("ingest");
    assert_eq!(outcome.accepted, 1, "{:?}", outcome.rejected);
}

/// What a network model published, in an order that does not depend on hashing: estimates
/// sorted, alerts as (code, sorted entities). Water quality (age, chlorine) is left out: it is
/// an extended-period run refreshed every five minutes, so before a restart it may still be
/// the run from before the latest readings, and after it is always fresh.
type Published = (Vec<(String, &'static str, u64)>, Vec<(String, Vec<String>)>);

fn published(twin: &LiveTwin, kind: NetworkKind) -> Option<Published> {
    let (estimates, alerts) = twin.shared.networks.latest(kind)?;
    let mut values: Vec<_> = estimates
        .values
        .iter()
        .filter(|(_, field, _)| !matches!(*field, "freeChlorine" | "waterAge"))
        .map(|(id, field, v)| (id.clone(), *field, v.to_bits()))
        .collect();
    values.sort();
    let mut alerts: Vec<_> = alerts
        .iter()
        .filter(|a| a.code != "low_chlorine")
        .map(|a| {
            let mut e = a.entities.clone();
            e.sort();
            (a.code.to_string(), e)
        })
        .collect();
    alerts.sort();
    Some((values, alerts))
}

/// Wait until every network has published and `ready` holds, then let the models settle:
/// no new solve for a second.
async fn settled(twin: &LiveTwin, ready: impl Fn(&LiveTwin) -> bool) {
    let solves = || twin.status().counters.map_or(0, |c| c.network_solves);
    for _ in 0..600 {
        let all = NetworkKind::ALL
            .iter()
            .all(|&k| twin.shared.networks.latest(k).is_some());
        if all && ready(twin) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut last = solves();
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let now = solves();
        if now == last {
            return;
        }
        last = now;
    }
}

fn has_alert(twin: &LiveTwin, kind: NetworkKind, code: &str, entity: &EntityId) -> bool {
    published(twin, kind).is_some_and(|(_, alerts)| {
        alerts
            .iter()
            .any(|(c, e)| c == code && e.contains(&entity.to_string()))
    })
}

#[actix_rt::test]
async fn a_restart_brings_back_the_network_models_inputs() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = first(&city, |a| matches!(a, Asset::WasteBin(_)));
    let junction = first(&city, |a| matches!(a, Asset::Junction(_)));
    let post = first(&city, |a| matches!(a, Asset::TransformerPost(_)));
    let street = first(&city, |a| matches!(a, Asset::StreetSegment(_)));

    let twin = LiveTwin::start(city.clone(), config(dir.path(), solve_network)).expect("start");
    settled(&twin, |_| true).await;
    let quiet = published(&twin, NetworkKind::Water);
    send(&twin, &bin, serde_json::json!({"fillingLevel": 0.98})).await;
    send(&twin, &junction, serde_json::json!({"demand": 25.0})).await;
    send(&twin, &post, serde_json::json!({"activePower": 600.0})).await;
    send(
        &twin,
        &street,
        serde_json::json!({"averageVehicleSpeed": 4.0}),
    )
    .await;
    settled(&twin, |t| {
        has_alert(t, NetworkKind::Waste, "bin_overflowing", &bin)
    })
    .await;
    let before: Vec<_> = NetworkKind::ALL
        .iter()
        .map(|&k| published(&twin, k))
        .collect();
    assert_ne!(
        before[1], quiet,
        "the junction's demand changed the water model's estimates"
    );
    // A crash: no final snapshot, the state comes back from the log.
    twin.abandon().await;

    let twin = LiveTwin::start(city.clone(), config(dir.path(), solve_network)).expect("restart");
    settled(&twin, |_| true).await;
    assert!(
        has_alert(&twin, NetworkKind::Waste, "bin_overflowing", &bin),
        "the full bin's alert is back without a new reading"
    );
    for (k, kind) in NetworkKind::ALL.iter().enumerate() {
        assert_eq!(
            published(&twin, *kind),
            before[k],
            "{kind:?}: estimates and alerts after the restart equal those before it"
        );
    }
    twin.shutdown().await;
}

/// Set while the water model should fail.
static WATER_POISONED: AtomicBool = AtomicBool::new(false);

/// The twin's models, but the water model panics while [`WATER_POISONED`] is set.
fn water_panics_when_poisoned(
    kind: NetworkKind,
    city: &CityModel,
    inj: &Injections,
) -> Result<Solved, String> {
    if kind == NetworkKind::Water && WATER_POISONED.load(Ordering::SeqCst) {
        panic!("a poisoned water model");
    }
    solve_network(kind, city, inj)
}

#[actix_rt::test]
async fn a_panicking_network_model_is_supervised_and_comes_back() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let junction = first(&city, |a| matches!(a, Asset::Junction(_)));
    let bin = first(&city, |a| matches!(a, Asset::WasteBin(_)));
    let twin = LiveTwin::start(city.clone(), config(dir.path(), water_panics_when_poisoned))
        .expect("start");
    settled(&twin, |_| true).await;
    let good = published(&twin, NetworkKind::Water).expect("water solved");
    assert!(
        twin.status().degraded.is_empty(),
        "{:?}",
        twin.status().degraded
    );

    WATER_POISONED.store(true, Ordering::SeqCst);
    send(&twin, &junction, serde_json::json!({"demand": 30.0})).await;
    send(&twin, &bin, serde_json::json!({"fillingLevel": 0.97})).await;
    settled(&twin, |t| !t.status().degraded.is_empty()).await;
    let status = twin.status();
    let counters = status.counters.expect("counters");
    assert!(counters.network_panics >= 1, "{counters:?}");
    assert_eq!(status.degraded.len(), 1, "{:?}", status.degraded);
    assert!(
        status.degraded[0].starts_with("network:water: ")
            && status.degraded[0].contains("a poisoned water model")
            && status.degraded[0].contains("measured junction demands"),
        "the reason names the model, the panic and its inputs: {:?}",
        status.degraded
    );
    assert_eq!(
        published(&twin, NetworkKind::Water),
        Some(good),
        "the last good estimates stay published"
    );
    assert!(
        has_alert(&twin, NetworkKind::Waste, "bin_overflowing", &bin),
        "the other models keep solving on their own threads"
    );

    WATER_POISONED.store(false, Ordering::SeqCst);
    send(&twin, &junction, serde_json::json!({"demand": 31.0})).await;
    settled(&twin, |t| t.status().degraded.is_empty()).await;
    assert!(
        twin.status().degraded.is_empty(),
        "the model solved again and the twin is healthy: {:?}",
        twin.status().degraded
    );
    twin.shutdown().await;
}
