//! Scenarios forked from the live twin: `POST /api/scenarios` takes a scenario file (TOML, as
//! in docs/scenarios.md) and runs it from the twin's current state, off the server's threads.
//! It starts at the twin's clock and the bins start at their live levels. `GET /api/scenarios`,
//! `GET /api/scenarios/{id}` (progress, then the report as JSON) and
//! `GET /api/scenarios/{id}/report.html` follow it. Subscribers to the WebSocket layer
//! `scenario` get every change of progress and the end.

use std::collections::{BTreeMap, HashMap};
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Timelike};
use serde_json::{Value as Json, json};
use twin_core::entity::Asset;
use twin_core::ev::calibration::DemandFit;
use twin_scenarios::output::{report_html, report_json};
use twin_scenarios::{Model, Scenario, run_scenario};

use crate::AppState;
use crate::api::{ApiError, authorize, bearer};
use crate::auth::Role;

/// Largest scenario file accepted.
pub const MAX_SCENARIO_BYTES: usize = 64 * 1024;
/// Runs at once; more are refused until one ends.
pub const MAX_RUNNING: usize = 2;
/// Runs kept (the oldest finished ones are dropped).
pub const MAX_KEPT: usize = 50;

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Running,
    Done,
    Failed(String),
}

struct Job {
    name: String,
    status: Status,
    progress: f64,
    started_at: String,
    seconds: Option<f64>,
    report: Option<Json>,
    html: Option<String>,
}

impl Job {
    fn view(&self, id: u64) -> Json {
        let mut v = json!({
            "id": id,
            "name": self.name,
            "status": match self.status { Status::Running => "running", Status::Done => "done", Status::Failed(_) => "failed" },
            "progress": (self.progress * 1000.0).round() / 1000.0,
            "started_at": self.started_at,
            "links": {"self": format!("/api/scenarios/{id}"), "report": format!("/api/scenarios/{id}/report.html")},
        });
        if let Some(s) = self.seconds {
            v["seconds"] = json!(s);
        }
        if let Status::Failed(e) = &self.status {
            v["error"] = json!(e);
        }
        // The result's KPIs ride on the view once done (the whole report is one GET away).
        if let Some(r) = &self.report {
            v["difference"] = r["difference"].clone();
        }
        v
    }
}

/// How the scenario API gets the EV model's calibration, on the first scenario that runs the
/// EV model: the server's owner knows the city's sessions (its bundle's, or `--ev-sessions`).
#[derive(Clone)]
pub struct FitLoader(pub Arc<dyn Fn() -> Result<DemandFit, String> + Send + Sync>);

impl std::fmt::Debug for FitLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FitLoader")
    }
}

impl Default for FitLoader {
    /// No calibration: scenarios that run the EV model are refused with why.
    fn default() -> Self {
        FitLoader(Arc::new(|| {
            Err("the server was started without an EV calibration".into())
        }))
    }
}

/// The runs of one server.
#[derive(Default)]
pub struct ScenarioJobs {
    jobs: Mutex<BTreeMap<u64, Job>>,
    /// Where the EV calibration comes from, and the calibration once loaded.
    fit_loader: FitLoader,
    fit: OnceLock<Result<Arc<DemandFit>, String>>,
}

impl ScenarioJobs {
    pub fn new(fit_loader: FitLoader) -> ScenarioJobs {
        ScenarioJobs {
            jobs: Mutex::new(BTreeMap::new()),
            fit_loader,
            fit: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn views(&self) -> Vec<Json> {
        self.lock().iter().map(|(id, j)| j.view(*id)).collect()
    }

    fn fit(&self) -> Result<Arc<DemandFit>, String> {
        self.fit
            .get_or_init(|| (self.fit_loader.0)().map(Arc::new))
            .clone()
    }
}

fn api_err(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, reason, message)
}

/// `POST /api/scenarios` (operator): 202 with the run's id and links.
pub async fn post_scenario(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    authorize(&state, bearer(request.headers()), Role::Operator)?;
    let bytes = crate::api::read_body(
        request,
        MAX_SCENARIO_BYTES,
        state.limits.connections.body_timeout,
        "body_too_large",
        format!("a scenario file is at most {MAX_SCENARIO_BYTES} bytes"),
    )
    .await?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        api_err(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the scenario file is not UTF-8 text",
        )
    })?;
    let twin = &state.hub.twin;
    let city = twin.shared.city.clone();
    let (mut scenario, interventions, text) = Scenario::parse(text, FsPath::new("scenario.toml"))
        .map_err(|e| {
        api_err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_scenario",
            e.to_string(),
        )
    })?;
    scenario.resolve(interventions, &text, &city).map_err(|e| {
        api_err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_scenario",
            e.to_string(),
        )
    })?;
    let jobs = state.scenarios.clone();
    let fit = if scenario.runs(Model::Ev) {
        Some(jobs.fit().map_err(|e| {
            api_err(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_ev_model",
                format!("the EV model's sessions: {e}"),
            )
        })?)
    } else {
        None
    };
    // Fork: the twin's clock, rounded down to the step, and the bins' live levels.
    let now = state
        .hub
        .current_kpis()
        .twin_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc))
        .naive_utc();
    let step_min = (scenario.step_h * 60.0).round().max(1.0) as i64;
    let minutes = i64::from(now.hour()) * 60 + i64::from(now.minute());
    scenario.start = now.date().and_hms_opt(0, 0, 0).unwrap_or(now)
        + Duration::minutes(minutes - minutes % step_min);
    let bins: Vec<usize> = city
        .entities()
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.asset, Asset::WasteBin(_)))
        .map(|(i, _)| i)
        .collect();
    let levels = state.hub.published_numbers(&bins, &["fillingLevel"]);
    scenario.initial_bin_levels = bins
        .iter()
        .zip(levels)
        .filter_map(|(&i, v)| Some((i, v[0]?)))
        .collect::<HashMap<_, _>>();
    let id = {
        let mut all = jobs.lock();
        if all.values().filter(|j| j.status == Status::Running).count() >= MAX_RUNNING {
            return Err(api_err(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_scenarios",
                format!("{MAX_RUNNING} scenarios are running; try when one ends"),
            ));
        }
        while all.len() >= MAX_KEPT {
            let Some(oldest) = all
                .iter()
                .find(|(_, j)| j.status != Status::Running)
                .map(|(k, _)| *k)
            else {
                break;
            };
            all.remove(&oldest);
        }
        let id = all.keys().next_back().map_or(1, |k| k + 1);
        all.insert(
            id,
            Job {
                name: scenario.name.clone(),
                status: Status::Running,
                progress: 0.0,
                started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                seconds: None,
                report: None,
                html: None,
            },
        );
        id
    };
    let hub = state.hub.clone();
    hub.publish_scenarios(jobs.views());
    let view = jobs.lock().get(&id).map(|j| j.view(id)).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let last_publish = Mutex::new(Instant::now());
        let progress = |done: usize, total: usize| {
            if let Some(j) = jobs.lock().get_mut(&id) {
                j.progress = done as f64 / total.max(1) as f64;
            }
            let mut last = last_publish.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed().as_millis() >= 250 {
                *last = Instant::now();
                hub.publish_scenarios(jobs.views());
            }
        };
        let result = run_scenario(&city, &scenario, fit.as_deref(), &progress);
        {
            let mut all = jobs.lock();
            if let Some(j) = all.get_mut(&id) {
                j.seconds = Some(started.elapsed().as_secs_f64());
                match result {
                    Ok(c) => {
                        j.status = Status::Done;
                        j.progress = 1.0;
                        j.report = Some(report_json(&scenario, &c));
                        j.html = Some(report_html(&scenario, &c).to_html());
                    }
                    Err(e) => j.status = Status::Failed(e.to_string()),
                }
            }
        }
        hub.publish_scenarios(jobs.views());
    });
    Ok((StatusCode::ACCEPTED, axum::Json(view)).into_response())
}

pub async fn list_scenarios(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let jobs = state.scenarios.views();
    Ok(axum::Json(json!({"count": jobs.len(), "scenarios": jobs})).into_response())
}

fn find(all: &BTreeMap<u64, Job>, id: u64) -> Result<&Job, ApiError> {
    all.get(&id).ok_or_else(|| {
        api_err(
            StatusCode::NOT_FOUND,
            "unknown_scenario",
            format!("there is no scenario run {id}"),
        )
    })
}

fn job_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        api_err(
            StatusCode::NOT_FOUND,
            "unknown_scenario",
            format!("`{text}` is not a scenario run"),
        )
    })
}

/// `GET /api/scenarios/{id}`: the run's state, with `report` (as report.json) once done.
pub async fn get_scenario(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let id = job_id(&id)?;
    let all = state.scenarios.lock();
    let job = find(&all, id)?;
    let mut v = job.view(id);
    if let Some(r) = &job.report {
        v["report"] = r.clone();
    }
    Ok(axum::Json(v).into_response())
}

/// `GET /api/scenarios/{id}/report.html`.
pub async fn scenario_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, bearer(&headers), Role::Viewer)?;
    let id = job_id(&id)?;
    let all = state.scenarios.lock();
    let job = find(&all, id)?;
    match &job.html {
        Some(html) => Ok((
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html.clone(),
        )
            .into_response()),
        None => Err(api_err(
            StatusCode::CONFLICT,
            "not_ready",
            format!(
                "scenario run {id} is {}",
                match &job.status {
                    Status::Running => "still running".to_string(),
                    Status::Failed(e) => format!("failed: {e}"),
                    Status::Done => "done".into(),
                }
            ),
        )),
    }
}
