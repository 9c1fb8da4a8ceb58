//! The live twin in one process on the Pitești bundle: readings reach entity actors through the
//! one validation path, rejections are counted per reason, a panicking handler is isolated, and
//! a restart restores every entity from the snapshot plus the log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use twin_actors::shared::FeedEvent;
use twin_actors::twin::{LiveTwin, Rejection, TwinConfig};
use twin_core::live::{Delta, EntityLive};
use twin_core::reading::RawReading;
use twin_core::{CityModel, Entity, Quantity, Reading, Value};

fn pitesti() -> Arc<CityModel> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pitesti");
    Arc::new(twin_core::load_city(&dir).expect("Pitești bundle"))
}

fn raw(entity: &str, at: &str, values: serde_json::Value) -> Result<RawReading, Rejection> {
    Ok(RawReading {
        entity: entity.into(),
        observed_at: at.into(),
        values: serde_json::from_value(values).expect("object"),
    })
}

fn config(dir: &Path) -> TwinConfig {
    let mut c = TwinConfig::new(dir);
    c.arbiters = 2;
    c.snapshot_every = Duration::from_secs(3600);
    // Tests run wherever /tmp is: the free-space margin has its own test (a small tmpfs).
    c.min_free_bytes = 0;
    c
}

/// Wait until `check` holds for the state of `index`, polling.
async fn settle(twin: &LiveTwin, index: usize, check: impl Fn(&EntityLive) -> bool) -> EntityLive {
    for _ in 0..200 {
        let s = twin.state(index).await.expect("actor alive");
        if check(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    twin.state(index).await.expect("actor alive")
}

#[actix_rt::test]
async fn readings_reach_actors_and_rejections_are_counted_by_reason() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let twin = LiveTwin::start(city.clone(), config(dir.path())).expect("start");
    let mut feed = twin.shared.feed.subscribe();
    let outcome = twin
        .ingest_durable(
            vec![
                raw(
                    "bin:17",
                    "2026-11-27T08:00:00Z",
                    serde_json::json!({"fillingLevel": 0.4}),
                ),
                raw(
                    "bin:17",
                    "2026-11-27T08:00:00Z",
                    serde_json::json!({"fillingLevel": 1.7}),
                ),
                raw(
                    "bin:999999",
                    "2026-11-27T08:00:00Z",
                    serde_json::json!({"fillingLevel": 0.1}),
                ),
                raw(
                    "bin:17",
                    "yesterday",
                    serde_json::json!({"fillingLevel": 0.1}),
                ),
                Err(Rejection {
                    reason: "malformed".into(),
                    message: "line 3: not JSON".into(),
                }),
            ],
            None,
        )
        .await
        .expect("ingest");
    assert_eq!(outcome.accepted, 1);
    let reasons: Vec<&str> = outcome
        .rejected
        .iter()
        .map(|(_, r)| r.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "out_of_range",
            "unknown_entity",
            "bad_timestamp",
            "malformed"
        ]
    );
    assert!(
        outcome.rejected[0].1.message.contains("bin:17"),
        "{}",
        outcome.rejected[0].1.message
    );
    let index = city
        .entity_index(&"bin:17".parse().expect("id"))
        .expect("bin:17 exists");
    let state = settle(&twin, index, |s| s.readings == 1).await;
    assert_eq!(
        state.latest(Quantity::FillingLevel),
        Some(&Value::Number(0.4))
    );
    // The delta went out on the feed.
    let got_delta = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match feed.recv().await {
                Ok(FeedEvent::Delta { entity, .. }) if entity == index => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(got_delta, "no delta for bin:17 on the feed");
    twin.shutdown().await;
    let status = twin_actors::twin::read_status(dir.path(), Some(&city)).expect("status");
    assert_eq!(status.readings_logged, 1);
    assert_eq!(status.rejected.get("out_of_range"), Some(&1));
    assert_eq!(status.rejected.get("malformed"), Some(&1));
    assert_eq!(status.entities, city.entities().len());
}

/// bin:5 at 0.3, 0.666 (the level [`panics_on_0_666`] panics on) and 0.5, one batch each.
async fn ingest_levels_with_a_poison(twin: &LiveTwin) {
    for (at, level) in [
        ("2026-11-27T08:00:00Z", 0.3),
        ("2026-11-27T09:00:00Z", 0.666),
        ("2026-11-27T10:00:00Z", 0.5),
    ] {
        twin.ingest_durable(
            vec![raw("bin:5", at, serde_json::json!({"fillingLevel": level}))],
            None,
        )
        .await
        .expect("ingest");
    }
}

fn panics_on_0_666(live: &mut EntityLive, entity: &Entity, reading: &Reading) -> Option<Delta> {
    let bad = reading
        .values
        .iter()
        .any(|(_, v)| *v == Value::Number(0.666));
    // Break the state half-way, then panic: isolation must roll this back.
    live.readings += 1_000;
    if bad {
        panic!("injected fault");
    }
    live.readings -= 1_000;
    live.apply_reading(entity, reading)
}

#[actix_rt::test]
async fn a_panicking_handler_keeps_its_actor_and_its_last_state() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    cfg.apply = panics_on_0_666;
    let twin = LiveTwin::start(city.clone(), cfg).expect("start");
    let index = city
        .entity_index(&"bin:5".parse().expect("id"))
        .expect("bin:5 exists");
    ingest_levels_with_a_poison(&twin).await;
    let state = settle(&twin, index, |s| s.readings == 2).await;
    assert_eq!(
        state.readings, 2,
        "the panicking reading must not count, the others must"
    );
    assert_eq!(
        state.latest(Quantity::FillingLevel),
        Some(&Value::Number(0.5))
    );
    assert_eq!(twin.status().counters.map(|c| c.panics), Some(1));
    // Other actors on the same arbiters still work.
    twin.ingest_durable(
        vec![raw(
            "bin:6",
            "2026-11-27T10:00:00Z",
            serde_json::json!({"fillingLevel": 0.2}),
        )],
        None,
    )
    .await
    .expect("ingest");
    let other = city
        .entity_index(&"bin:6".parse().expect("id"))
        .expect("bin:6 exists");
    assert_eq!(settle(&twin, other, |s| s.readings == 1).await.readings, 1);
    twin.shutdown().await;
}

#[actix_rt::test]
async fn a_poison_reading_in_the_log_is_set_aside_at_restart_not_a_crash_loop() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = city
        .entity_index(&"bin:5".parse().expect("id"))
        .expect("bin:5 exists");
    {
        // Logged by a twin whose rules accepted it (an older version, say); no snapshot after.
        let twin = LiveTwin::start(city.clone(), config(dir.path())).expect("start");
        ingest_levels_with_a_poison(&twin).await;
        settle(&twin, index, |s| s.readings == 3).await;
        twin.abandon().await;
    }
    // The restart replays the log with rules that panic on it: it starts, skips that reading
    // and says so.
    let mut cfg = config(dir.path());
    cfg.apply = panics_on_0_666;
    let twin = LiveTwin::start(city.clone(), cfg).expect("restart despite the poison reading");
    let restored = twin.status().restored.expect("restore report");
    assert_eq!((restored.replayed, restored.quarantined), (3, 1));
    let state = twin.state(index).await.expect("state");
    assert_eq!(state.readings, 2);
    assert_eq!(
        state.latest(Quantity::FillingLevel),
        Some(&Value::Number(0.5))
    );
    twin.shutdown().await;
}

#[actix_rt::test]
async fn a_restart_restores_state_from_snapshot_and_log() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = city
        .entity_index(&"bin:9".parse().expect("id"))
        .expect("bin:9 exists");
    // A snapshot after the third reading; readings 4-6 only in the log.
    six_readings_then_a_crash(&city, config(dir.path()), index, &[2]).await;
    let twin = LiveTwin::start(city.clone(), config(dir.path())).expect("restart");
    let status = twin.status();
    let restored = status.restored.expect("restore report");
    assert_eq!(restored.snapshot_seq, Some(3));
    assert_eq!(restored.replayed, 3);
    let state = twin.state(index).await.expect("state");
    assert_eq!(state.readings, 6);
    assert_eq!(
        state.latest(Quantity::FillingLevel),
        Some(&Value::Number(0.35))
    );
    twin.shutdown().await;
}

/// Six readings of bin:9 at hours 0–5, a snapshot after those of the hours in `snapshot_after`;
/// then a crash (no final snapshot).
async fn six_readings_then_a_crash(
    city: &Arc<CityModel>,
    cfg: TwinConfig,
    index: usize,
    snapshot_after: &[u64],
) {
    let twin = LiveTwin::start(city.clone(), cfg).expect("start");
    for h in 0..6 {
        let at = format!("2026-11-27T0{h}:00:00Z");
        twin.ingest_durable(
            vec![raw(
                "bin:9",
                &at,
                serde_json::json!({"fillingLevel": 0.1 + 0.05 * h as f64}),
            )],
            None,
        )
        .await
        .expect("ingest");
        if snapshot_after.contains(&h) {
            settle(&twin, index, |s| s.readings == h + 1).await;
            twin.snapshot().await.expect("snapshot");
        }
    }
    settle(&twin, index, |s| s.readings == 6).await;
    twin.abandon().await;
}

/// Damage the newest snapshot in the store's sled database, as a bad disk would.
fn corrupt_newest_snapshot(dir: &Path) {
    let db = sled::open(dir.join("store")).expect("the store, closed by its twin");
    let snapshots = db.open_tree("snapshots").expect("snapshots");
    let (key, _) = snapshots.last().expect("read").expect("a snapshot");
    snapshots
        .insert(key, &b"\x01{\"seq\": 4, \"entit"[..])
        .expect("write");
    db.flush().expect("flush");
}

#[actix_rt::test]
async fn a_corrupt_newest_snapshot_restores_from_the_one_before_or_says_what_is_lost() {
    let city = pitesti();
    let index = city
        .entity_index(&"bin:9".parse().expect("id"))
        .expect("bin:9 exists");
    // The log still holds every reading after the older snapshot: recovered, and said so.
    let dir = tempfile::tempdir().expect("tempdir");
    six_readings_then_a_crash(&city, config(dir.path()), index, &[1, 3]).await;
    corrupt_newest_snapshot(dir.path());
    let twin = LiveTwin::start(city.clone(), config(dir.path())).expect("restart");
    let restored = twin.status().restored.expect("restore report");
    assert_eq!(
        (
            restored.snapshot_seq,
            restored.unreadable_snapshots,
            restored.replayed
        ),
        (Some(2), 1, 4)
    );
    let state = twin.state(index).await.expect("state");
    assert_eq!(state.readings, 6);
    assert_eq!(
        state.latest(Quantity::FillingLevel),
        Some(&Value::Number(0.35))
    );
    twin.shutdown().await;

    // The log was pruned past the older snapshot: a clear error naming what is lost.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pruning = config(dir.path());
    pruning.log_retention = Duration::ZERO;
    six_readings_then_a_crash(&city, pruning, index, &[1, 3]).await;
    corrupt_newest_snapshot(dir.path());
    let e = LiveTwin::start(city.clone(), config(dir.path()))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("corrupt snapshots")
            && e.contains("readings 3..3 are lost")
            && e.contains("Move the store folder aside"),
        "{e}"
    );
}

/// Every accepted reading goes to the history (a window reads it back in time order); after a
/// snapshot the twin drops the days of readings older than its history retention and keeps the
/// rest.
#[actix_rt::test]
async fn the_history_keeps_every_reading_and_drops_those_past_its_retention() {
    let city = pitesti();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.history_retention = Duration::from_secs(30 * 24 * 3600);
    let twin = LiveTwin::start(city.clone(), c).expect("start");
    let now = chrono::Utc::now();
    let day = chrono::Duration::days(1);
    // 40 days of daily readings of bin:17, sent newest first, and one rejected reading.
    let mut readings: Vec<_> = (0..40)
        .map(|d| {
            let at = twin_core::live::rfc3339((now - day * d).timestamp_millis());
            raw(
                "bin:17",
                &at,
                serde_json::json!({"fillingLevel": d as f64 / 100.0}),
            )
        })
        .collect();
    readings.push(raw(
        "bin:17",
        "2026-11-27T08:00:00Z",
        serde_json::json!({"fillingLevel": 7.5}),
    ));
    let outcome = twin.ingest_durable(readings, None).await.expect("ingest");
    assert_eq!((outcome.accepted, outcome.rejected.len()), (40, 1));
    let bin: twin_core::EntityId = "bin:17".parse().expect("id");
    let all = twin_actors::store::Window::all(1000);
    let kept = twin
        .history()
        .expect("running")
        .read(&bin, all)
        .expect("read");
    assert_eq!(kept.len(), 40, "every accepted reading, none rejected");
    assert!(kept.windows(2).all(|w| w[0].observed_at < w[1].observed_at));
    assert_eq!(
        kept.last().map(|r| r.values.clone()),
        Some(vec![(Quantity::FillingLevel, Value::Number(0.0))])
    );
    twin.snapshot().await.expect("snapshot");
    let mut left = 0;
    for _ in 0..200 {
        left = twin
            .history()
            .expect("running")
            .read(&bin, all)
            .expect("read")
            .len();
        if left < 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Whole UTC days are dropped: the readings of 0..=29 days ago stay, and the one of 30 days
    // ago, whose day ends after the cutoff; those of 31..=39 days ago are gone.
    assert_eq!(left, 31);
    let oldest = twin
        .history()
        .expect("running")
        .span(&bin)
        .expect("span")
        .expect("kept")
        .0;
    assert_eq!(oldest, (now - day * 30).timestamp_millis());
    twin.shutdown().await;
}
