//! A JetStream work queue for batches of independent jobs (scenario runs over many seeds):
//! a coordinator submits a batch's jobs and collects their results; any number of workers on
//! any machines take jobs one at a time.
//!
//! - Jobs go to the stream `CITYTWIN_JOBS` (work-queue retention: a job leaves the stream when
//!   a worker acknowledges it) on `citytwin.jobs.<batch>`, each with its index in a header.
//! - Workers share one durable consumer, so each job goes to one worker. A worker tells the
//!   server it is still busy while a job runs, and acknowledges the job only after publishing
//!   its result, so a job whose worker dies is delivered again (at most three times).
//! - Results go to the stream `CITYTWIN_RESULTS` on `citytwin.results.<batch>`, kept a day; the
//!   coordinator reads them from the start, so it may even connect after the workers finished.
//!   A job done twice (redelivered) gives the same result twice; the coordinator keeps one.
//!
//! Payloads are opaque bytes here: the scenario CLI decides what a job and a result hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::StreamExt;

use super::ClusterError;

pub const JOBS_STREAM: &str = "CITYTWIN_JOBS";
pub const RESULTS_STREAM: &str = "CITYTWIN_RESULTS";
const JOBS_PREFIX: &str = "citytwin.jobs";
const RESULTS_PREFIX: &str = "citytwin.results";
/// The durable consumer every worker shares.
const WORKERS: &str = "citytwin-workers";
/// The header naming a job's index in its batch (on jobs and on results).
const JOB_HEADER: &str = "Citytwin-Job";
/// A result that is an error, not a payload.
const ERROR_HEADER: &str = "Citytwin-Error";
/// A job not acknowledged (nor reported in progress) for this long is delivered again.
const ACK_WAIT: Duration = Duration::from_secs(60);

/// What a job gave: its payload, or why it failed.
pub type JobResult = Result<Vec<u8>, String>;

/// What a worker does with a job's payload (on a blocking thread).
pub type JobRunner = Arc<dyn Fn(&[u8]) -> JobResult + Send + Sync>;

/// A connection to the cluster's work queue.
pub struct WorkQueue {
    url: String,
    js: jetstream::Context,
    jobs: stream::Stream,
    results: stream::Stream,
}

/// A batch id must be one subject token: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn check_batch_id(batch: &str) -> Result<(), String> {
    super::shard::check_node_id(batch).map_err(|e| e.replace("node id", "batch id"))
}

impl WorkQueue {
    /// Connect, creating the two streams if they are missing.
    pub async fn connect(url: &str) -> Result<WorkQueue, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| ClusterError::Connect {
                url: url.to_string(),
                why: e.to_string(),
            })?;
        let js = jetstream::new(client);
        let err = |what: &str, e: String| ClusterError::JetStream {
            url: url.to_string(),
            what: what.to_string(),
            why: e,
        };
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: JOBS_STREAM.to_string(),
                description: Some("citytwin: jobs of distributed batches".into()),
                subjects: vec![format!("{JOBS_PREFIX}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| err("the jobs stream", e.to_string()))?;
        let results = js
            .get_or_create_stream(stream::Config {
                name: RESULTS_STREAM.to_string(),
                description: Some("citytwin: results of distributed batches".into()),
                subjects: vec![format!("{RESULTS_PREFIX}.>")],
                max_age: Duration::from_secs(24 * 3600),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| err("the results stream", e.to_string()))?;
        Ok(WorkQueue {
            url: url.to_string(),
            js,
            jobs,
            results,
        })
    }

    fn error(&self, what: &str, why: impl ToString) -> ClusterError {
        ClusterError::JetStream {
            url: self.url.clone(),
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// Put a batch's jobs on the queue; returns once the stream holds them all.
    pub async fn submit(&self, batch: &str, jobs: Vec<Vec<u8>>) -> Result<(), ClusterError> {
        check_batch_id(batch).map_err(ClusterError::Config)?;
        let mut acks = Vec::with_capacity(jobs.len());
        for (k, payload) in jobs.into_iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert(JOB_HEADER, k.to_string().as_str());
            let ack = self
                .js
                .publish_with_headers(format!("{JOBS_PREFIX}.{batch}"), headers, payload.into())
                .await
                .map_err(|e| self.error("submitting a job", e))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| self.error("submitting a job", e))?;
        }
        Ok(())
    }

    /// Wait for the results of jobs `0..expected` of a batch; `progress` is told of each new
    /// one. Returns them by job index.
    pub async fn collect(
        &self,
        batch: &str,
        expected: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<JobResult>, ClusterError> {
        let consumer = self
            .results
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: format!("{RESULTS_PREFIX}.{batch}"),
                ..Default::default()
            })
            .await
            .map_err(|e| self.error("reading results", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| self.error("reading results", e))?;
        let mut found: BTreeMap<usize, JobResult> = BTreeMap::new();
        while found.len() < expected {
            let Some(message) = messages.next().await else {
                return Err(self.error("reading results", "the results stream ended"));
            };
            let message = message.map_err(|e| self.error("reading results", e))?;
            let Some(k) = header(&message, JOB_HEADER).and_then(|v| v.parse::<usize>().ok()) else {
                continue;
            };
            if k >= expected || found.contains_key(&k) {
                continue;
            }
            let result = match header(&message, ERROR_HEADER) {
                Some(_) => Err(String::from_utf8_lossy(&message.payload).into_owned()),
                None => Ok(message.payload.to_vec()),
            };
            found.insert(k, result);
            progress(found.len());
        }
        Ok(found.into_values().collect())
    }

    /// Take jobs, `parallel` at a time, until the connection fails: each is given to `run` (on
    /// a blocking thread) with its payload, and its result published before it is acknowledged.
    pub async fn work(&self, parallel: usize, run: JobRunner) -> Result<(), ClusterError> {
        let consumer: consumer::PullConsumer = self
            .jobs
            .get_or_create_consumer(
                WORKERS,
                consumer::pull::Config {
                    durable_name: Some(WORKERS.to_string()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_deliver: 3,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.error("the workers' consumer", e))?;
        let mut tasks = Vec::new();
        for _ in 0..parallel.max(1) {
            let consumer = consumer.clone();
            let js = self.js.clone();
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let batch = consumer
                        .batch()
                        .max_messages(1)
                        .expires(Duration::from_secs(5))
                        .messages()
                        .await;
                    let mut batch = match batch {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %e, "fetching a job");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    while let Some(job) = batch.next().await {
                        match job {
                            Ok(job) => do_job(&js, job, run.clone()).await,
                            Err(e) => tracing::warn!(error = %e, "receiving a job"),
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

fn header(message: &jetstream::Message, name: &str) -> Option<String> {
    message
        .headers
        .as_ref()?
        .get(name)
        .map(|v| v.as_str().to_string())
}

/// Run one job, telling the server it is in progress while it runs, then publish its result
/// and acknowledge it.
async fn do_job(js: &jetstream::Context, job: jetstream::Message, run: JobRunner) {
    let subject = job.subject.to_string();
    let Some(batch) = subject
        .strip_prefix(&format!("{JOBS_PREFIX}."))
        .map(str::to_string)
    else {
        let _ = job.ack_with(AckKind::Term).await;
        return;
    };
    let Some(k) = header(&job, JOB_HEADER) else {
        tracing::warn!(%subject, "a job without its index; dropped");
        let _ = job.ack_with(AckKind::Term).await;
        return;
    };
    let payload = job.payload.to_vec();
    let mut running = tokio::task::spawn_blocking(move || run(&payload));
    let mut tick = tokio::time::interval(ACK_WAIT / 3);
    tick.tick().await;
    let result = loop {
        tokio::select! {
            done = &mut running => break done.unwrap_or_else(|e| Err(format!("the job panicked: {e}"))),
            _ = tick.tick() => {
                let _ = job.ack_with(AckKind::Progress).await;
            }
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(JOB_HEADER, k.as_str());
    let payload = match result {
        Ok(bytes) => bytes,
        Err(why) => {
            headers.insert(ERROR_HEADER, "1");
            why.into_bytes()
        }
    };
    let published = match js
        .publish_with_headers(format!("{RESULTS_PREFIX}.{batch}"), headers, payload.into())
        .await
    {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if published {
        if let Err(e) = job.double_ack().await {
            tracing::warn!(error = %e, %batch, job = %k, "acknowledging a job; it may run again");
        }
    } else {
        // Not acknowledged: the job runs again elsewhere.
        tracing::warn!(%batch, job = %k, "cannot publish a result; the job will be delivered again");
        let _ = job
            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
            .await;
    }
}
