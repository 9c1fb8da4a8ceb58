//! The network actor: wakes on a timer, re-solves its network when something changed and its
//! minimum period has passed, and publishes estimates and alerts on the feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};

use super::estimate::{Solved, estimate_road, solve_power, solve_water, watch_bins, water_quality};
use super::published::{Estimates, NetworkKind};
use crate::shared::{FeedEvent, Shared};

/// How often a network actor looks for changes, and the least time between two solves.
#[derive(Debug, Clone, Copy)]
pub struct SolvePolicy {
    pub poll: Duration,
    pub min_period: Duration,
}

impl Default for SolvePolicy {
    fn default() -> Self {
        SolvePolicy {
            poll: Duration::from_millis(500),
            min_period: Duration::from_secs(2),
        }
    }
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
        let inj = &self.shared.networks;
        let changed = inj.take_changes(self.kind);
        // The first solve runs at once, so every element has an estimate from the start.
        if changed == 0 && self.last_solve.is_some() {
            return;
        }
        self.last_solve = Some(Instant::now());
        let city = &self.shared.city;
        let started = Instant::now();
        let result = match self.kind {
            NetworkKind::Power => solve_power(city, inj),
            NetworkKind::Water => solve_water(city, inj).map(|(mut values, mut alerts)| {
                let stale = self
                    .quality
                    .as_ref()
                    .is_none_or(|(at, _)| at.elapsed() >= QUALITY_REFRESH);
                if stale {
                    match water_quality(city, inj) {
                        Ok(q) => self.quality = Some((Instant::now(), q)),
                        Err(e) => tracing::warn!(error = %e, "water quality run failed"),
                    }
                }
                if let Some((_, (v, a))) = &self.quality {
                    values.extend(v.iter().cloned());
                    alerts.extend(a.iter().cloned());
                    // An entity's values stay together (the feed applies them as one change).
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                }
                (values, alerts)
            }),
            NetworkKind::Road => Ok(estimate_road(city, inj)),
            NetworkKind::Waste => Ok(watch_bins(city, inj)),
        };
        match result {
            Ok((values, alerts)) => {
                self.shared
                    .counters
                    .solves
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            Err(e) => tracing::warn!(network = ?self.kind, error = %e, "network solve failed"),
        }
    }
}

impl Actor for NetworkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.policy.poll, |actor, _| actor.tick());
    }
}
