//! Replay of a JSONL file of readings (one `{"entity", "observedAt", "values"}` per line) at any
//! speed: `speed` 1 keeps the gaps between `observedAt` stamps, 60 makes an hour a minute, and 0
//! (or infinity) replays as fast as the twin takes it. A line that is not a reading is rejected
//! with its line number, like any other bad reading.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use twin_core::reading::RawReading;

use crate::twin::{BatchOutcome, LiveTwin, Rejection};

/// Totals of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub lines: usize,
    pub accepted: usize,
    pub rejected: usize,
}

const BATCH: usize = 2048;

pub async fn run_replay(twin: LiveTwin, path: &Path, speed: f64) -> Result<ReplayReport, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Lines as bytes: a line that is not UTF-8 is rejected on its own, the rest still replayed.
    let mut lines = BufReader::new(file).split(b'\n');
    let mut report = ReplayReport::default();
    let mut batch: Vec<Result<RawReading, Rejection>> = Vec::with_capacity(BATCH);
    let began = Instant::now();
    let mut first_ms: Option<i64> = None;
    let paced = speed.is_finite() && speed > 0.0;
    let mut number = 0;
    loop {
        let line = lines
            .next_segment()
            .await
            .map_err(|e| format!("{}:{}: {e}", path.display(), number + 1))?;
        let Some(line) = line else { break };
        number += 1;
        let item = match RawReading::from_jsonl_line(&line) {
            Ok(None) => continue,
            Ok(Some(reading)) => Ok(reading),
            Err(e) => Err(Rejection {
                reason: e.reason().to_string(),
                message: format!("{}:{number}: {e}", path.display()),
            }),
        };
        report.lines += 1;
        if paced
            && let Ok(r) = &item
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&r.observed_at)
        {
            let ms = t.timestamp_millis();
            let origin = *first_ms.get_or_insert(ms);
            let due = Duration::from_secs_f64(((ms - origin).max(0) as f64 / 1000.0) / speed);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                flush(&twin, &mut batch, &mut report).await?;
                tokio::time::sleep(wait).await;
            }
        }
        batch.push(item);
        if batch.len() >= BATCH {
            flush(&twin, &mut batch, &mut report).await?;
        }
    }
    flush(&twin, &mut batch, &mut report).await?;
    Ok(report)
}

async fn flush(
    twin: &LiveTwin,
    batch: &mut Vec<Result<RawReading, Rejection>>,
    report: &mut ReplayReport,
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcome: BatchOutcome = twin.ingest_durable(std::mem::take(batch), None).await?;
    if let Some(e) = outcome.store_error {
        return Err(e);
    }
    report.accepted += outcome.accepted;
    report.rejected += outcome.rejected.len();
    for (_, r) in outcome.rejected.iter().take(5) {
        tracing::warn!(reason = %r.reason, "{}", r.message);
    }
    Ok(())
}
