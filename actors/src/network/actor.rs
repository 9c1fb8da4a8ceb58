//! The network actor: wakes on a timer, re-solves its network when something changed and its
//! minimum period has passed, and publishes estimates and alerts on the feed.
//!
//! Supervision: each network model runs on its own thread, and a solve runs inside
//! `catch_unwind`. A panic is logged with the model's inputs, counted
//! (`Counters::network_panics`), marked on `/health` (`network:<kind>` degraded), and the
//! model starts again from its last good state: the last estimates stay published and the
//! next change solves afresh.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};
use twin_core::CityModel;

use super::estimate::{Solved, estimate_road, solve_power, solve_water, watch_bins, water_quality};
use super::injections::Injections;
use super::published::{Estimates, NetworkKind};
use crate::shared::{FeedEvent, Shared};

/// How a network model is solved from its inputs: [`solve_network`] in the twin; tests put a
/// failing one in to check supervision.
pub type SolveFn = fn(NetworkKind, &CityModel, &Injections) -> Result<Solved, String>;

/// How often a network actor looks for changes, the least time between two solves, and the
/// models it runs.
#[derive(Debug, Clone, Copy)]
pub struct SolvePolicy {
    pub poll: Duration,
    pub min_period: Duration,
    pub solve: SolveFn,
}

impl Default for SolvePolicy {
    fn default() -> Self {
        SolvePolicy {
            poll: Duration::from_millis(500),
            min_period: Duration::from_secs(2),
            solve: solve_network,
        }
    }
}

/// The twin's network models: the power load flow, water hydraulics (water quality runs
/// apart, less often), road congestion, the bins' watch.
pub fn solve_network(
    kind: NetworkKind,
    city: &CityModel,
    inj: &Injections,
) -> Result<Solved, String> {
    match kind {
        NetworkKind::Power => solve_power(city, inj),
        NetworkKind::Water => solve_water(city, inj),
        NetworkKind::Road => Ok(estimate_road(city, inj)),
        NetworkKind::Waste => Ok(watch_bins(city, inj)),
    }
}

/// Run `f`, turning a panic into an error naming it (the panic's message).
fn supervised<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(Failure::Panic(what))
        }
    }
}

/// Why a solve gave no answer.
enum Failure {
    /// The model said why (did not converge, a non-finite number).
    Error(String),
    /// The model panicked: a bug, caught.
    Panic(String),
}

pub struct NetworkActor {
    kind: NetworkKind,
    shared: Arc<Shared>,
    policy: SolvePolicy,
    last_solve: Option<Instant>,
    /// Water age and chlorine (an extended-period run): recomputed at most every
    /// [`QUALITY_REFRESH`], kept between hydraulic solves.
    quality: Option<(Instant, Solved)>,
}

/// The part a water-quality panic marks degraded (apart from the hydraulics, which clear
/// their own mark on each good solve).
const QUALITY_PART: &str = "network:water-quality";

/// The least time between two water-quality runs.
const QUALITY_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

impl NetworkActor {
    pub fn new(kind: NetworkKind, shared: Arc<Shared>, policy: SolvePolicy) -> NetworkActor {
        NetworkActor {
            kind,
            shared,
            policy,
            last_solve: None,
            quality: None,
        }
    }

    fn tick(&mut self) {
        if self
            .last_solve
            .is_some_and(|t| t.elapsed() < self.policy.min_period)
        {
            return;
        }
        let shared = self.shared.clone();
        let inj = &shared.networks;
        let changed = inj.take_changes(self.kind);
        // The first solve runs at once, so every element has an estimate from the start.
        if changed == 0 && self.last_solve.is_some() {
            return;
        }
        self.last_solve = Some(Instant::now());
        let city = &shared.city;
        let started = Instant::now();
        let solve = self.policy.solve;
        let kind = self.kind;
        let result = supervised(|| solve(kind, city, inj));
        let result = match (self.kind, result) {
            (NetworkKind::Water, Ok((mut values, mut alerts))) => {
                self.refresh_quality(city, inj);
                if let Some((_, (v, a))) = &self.quality {
                    values.extend(v.iter().cloned());
                    alerts.extend(a.iter().cloned());
                    // An entity's values stay together (the feed applies them as one change).
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Ok((values, alerts))
            }
            (_, result) => result,
        };
        match result {
            Ok((values, alerts)) => {
                self.shared
                    .degraded
                    .clear(&format!("network:{}", self.kind.name()));
                let counters = &self.shared.counters;
                counters
                    .solves
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                counters.solve_micros.fetch_add(
                    started.elapsed().as_micros() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let estimates = Arc::new(Estimates {
                    solved_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    values,
                });
                let alerts = Arc::new(alerts);
                tracing::debug!(network = ?self.kind, changed, ms = started.elapsed().as_secs_f64() * 1e3,
                    alerts = alerts.len(), "network re-solved");
                inj.set_latest(self.kind, estimates.clone(), alerts.clone());
                let _ = self.shared.feed.send(FeedEvent::Estimates {
                    network: self.kind,
                    estimates,
                });
                let _ = self.shared.feed.send(FeedEvent::Alerts {
                    network: self.kind,
                    alerts,
                });
            }
            Err(Failure::Error(e)) => {
                tracing::warn!(network = ?self.kind, error = %e, "network solve failed")
            }
            Err(Failure::Panic(what)) => {
                let part = format!("network:{}", self.kind.name());
                self.panicked(&part, "solve", &what)
            }
        }
    }

    /// Water age and chlorine, when the last run is older than [`QUALITY_REFRESH`]
    /// (supervised like the hydraulics; a failure keeps the last good run).
    fn refresh_quality(&mut self, city: &CityModel, inj: &Injections) {
        let stale = self
            .quality
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= QUALITY_REFRESH);
        if !stale {
            return;
        }
        match supervised(|| water_quality(city, inj)) {
            Ok(q) => {
                self.quality = Some((Instant::now(), q));
                self.shared.degraded.clear(QUALITY_PART);
            }
            Err(Failure::Error(e)) => tracing::warn!(error = %e, "water quality run failed"),
            Err(Failure::Panic(what)) => self.panicked(QUALITY_PART, "water quality run", &what),
        }
    }

    /// A model panicked: log it with its inputs, count it, say so on `/health`. The last good
    /// estimates stay published; the next change solves again.
    fn panicked(&self, part: &str, step: &str, what: &str) {
        let n = self
            .shared
            .counters
            .network_panics
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let inputs = self.shared.networks.describe(self.kind);
        tracing::error!(network = ?self.kind, step, panic = %what, inputs = %inputs, "network model panicked; keeping its last good estimates");
        self.shared.degraded.set(
            part,
            format!(
                "the {step} panicked ({what}) on {inputs}; the last good estimates are shown ({n} network panics since start)"
            ),
        );
    }
}

impl Actor for NetworkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.policy.poll, |actor, _| actor.tick());
    }
}
