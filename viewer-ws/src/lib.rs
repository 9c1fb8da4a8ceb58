//! # twin-viewer-ws — what people and clients see
//!
//! The HTTP API, the WebSocket feed of the live twin (snapshot and deltas, bounded per client)
//! and the bundled web viewer (static files embedded in the binary). See DESIGN.md §4, §9 and
//! docs/protocol.md.
//! - [`feed`]: the hub holding the published state of every entity, a journal of changes, KPIs
//!   and alerts; clients read from it with a cursor;
//! - [`ws`]: one task per WebSocket client; [`protocol`]: its messages;
//! - [`api`]: the JSON API; [`auth`]: bearer tokens and roles; [`geo`]: layers as GeoJSON;
//! - [`reports`]: citizen reports; [`waste_plan`]: a collection round from the live bins;
//!   [`scenarios`]: scenarios forked from the twin's state;
//! - [`connections`]: accepting connections, with caps in all and per address, and header and
//!   idle deadlines;
//! - [`assets`]: the web viewer's files; [`bench`]: the WebSocket load benchmark; [`soak`]:
//!   weeks of simulated days through the whole twin; [`hostile`]: the server under attack.
//!
//! Depends on `twin-actors` (the live twin it serves), `twin-scenarios` (its public runner, for
//! forks) and `twin-core` (the model). This is an edge crate: wire types with `Serialize` live
//! here, not in `twin-core`.
//! **Must never** hold model logic of its own: it calls the models, it does not reimplement them.

pub mod api;
pub mod assets;
pub mod auth;
#[cfg(feature = "bench")]
pub mod bench;
pub mod connections;
pub mod feed;
pub mod geo;
#[cfg(feature = "bench")]
pub mod hostile;
pub mod ngsi_ld;
pub mod protocol;
pub mod reports;
pub mod scenarios;
#[cfg(feature = "bench")]
pub mod soak;
pub mod waste_plan;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use twin_actors::LiveTwin;

use crate::auth::{Auth, Role};
use crate::feed::{FeedHub, HubConfig};
use crate::geo::LayerGeometry;
use crate::protocol::WsLimits;

/// Limits of the HTTP API and the WebSocket feed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub ws: WsLimits,
    /// Largest request body (POST /api/readings), bytes.
    pub max_body_bytes: usize,
    /// Most readings in one POST.
    pub max_batch: usize,
    /// Connections: caps in all and per address, header, idle and body deadlines.
    pub connections: connections::ConnectionLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ws: WsLimits::default(),
            max_body_bytes: 4 * 1024 * 1024,
            max_batch: 10_000,
            connections: connections::ConnectionLimits::default(),
        }
    }
}

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub auth: Auth,
    pub limits: Limits,
    pub hub: HubConfig,
    /// The EV calibration for scenario forks that run the EV model.
    pub ev_fit: scenarios::FitLoader,
    /// An NGSI-LD broker to mirror the twin's assets into (`--ngsi-ld-upstream`).
    pub ngsi_ld_upstream: Option<ngsi_ld::UpstreamConfig>,
    /// An NGSI-LD broker to take sensor readings from (`--ngsi-ld-subscribe`).
    pub ngsi_ld_subscribe: Option<ngsi_ld::SubscribeConfig>,
    /// A folder of pre-loaded JSON-LD @context documents, `<host>/<path>`
    /// (`--ngsi-ld-contexts`).
    pub ngsi_ld_contexts: Option<std::path::PathBuf>,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<FeedHub>,
    pub auth: Arc<Auth>,
    pub limits: Limits,
    /// Geometry of each entity layer, in `EntityKind::ALL` order.
    pub layers: Arc<Vec<LayerGeometry>>,
    /// Road matrices for live collection plans.
    pub waste: Arc<waste_plan::WastePlanner>,
    /// Scenario runs forked from the twin.
    pub scenarios: Arc<scenarios::ScenarioJobs>,
    /// Citizen reports per sending address (a second limit beside the per-reporter one).
    pub report_senders: Arc<reports::AddressLimiter>,
    /// Open connections, in all and per address.
    pub connections: Arc<connections::AddressGate>,
    /// Full dumps (`GET /api/entities` of many entities) being sent, in all and per address.
    pub dumps: Arc<connections::AddressGate>,
    /// WebSocket upgrades per address: held at once and new ones per second.
    pub upgrades: Arc<connections::AddressGate>,
    /// The NGSI-LD API's state: subscriptions, the Smart Data Models' index.
    pub ngsi_ld: Arc<ngsi_ld::NgsiLd>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {why}")]
    Bind { addr: SocketAddr, why: String },
    #[error("cannot start the server: {0}")]
    Start(String),
}

/// The routes of the API, the feed and the viewer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/viewer/{file}", get(assets::file))
        .route("/ws", get(websocket))
        .route("/health", get(api::health))
        .route("/api/entities", get(api::entities))
        .route("/api/entities/{id}", get(api::entity))
        .route("/api/entities/{id}/history", get(api::history))
        .route("/api/layers/{file}", get(api::layer))
        .route("/api/kpis", get(api::kpis))
        .route("/api/alerts", get(api::alerts))
        .route("/api/readings", post(api::post_readings))
        .route("/api/snapshot", post(api::post_snapshot))
        .route(
            "/api/reports",
            post(reports::post_report).get(reports::list_reports),
        )
        .route("/api/reports/kpis", get(reports::report_kpis))
        .route("/api/reports/{id}/resolve", post(reports::resolve_report))
        .route("/api/waste/plan", get(waste_plan::waste_plan))
        .route(
            "/api/scenarios",
            post(scenarios::post_scenario).get(scenarios::list_scenarios),
        )
        .route("/api/scenarios/{id}", get(scenarios::get_scenario))
        .route(
            "/api/scenarios/{id}/report.html",
            get(scenarios::scenario_report),
        )
        .merge(ngsi_ld::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// No route: the NGSI-LD API answers in ProblemDetails, the rest of the API in its own errors.
async fn not_found(request: axum::extract::Request) -> axum::response::Response {
    if request.uri().path().starts_with("/ngsi-ld/") {
        ngsi_ld::not_found(&request)
    } else {
        api::not_found(request).await
    }
}

/// A method a route does not take (the `Allow` header is axum's), answered as [`not_found`].
async fn method_not_allowed(request: axum::extract::Request) -> axum::response::Response {
    if request.uri().path().starts_with("/ngsi-ld/") {
        ngsi_ld::method_not_allowed(&request)
    } else {
        api::method_not_allowed(request).await
    }
}

async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Query(params): Query<std::collections::HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Browsers cannot set headers on a WebSocket: a token may come as `?token=`.
    let token = api::bearer(&headers).or(params.get("token").map(String::as_str));
    if let Err(e) = api::authorize(&state, token, Role::Viewer) {
        return e.into_response();
    }
    let limits = state.limits.ws;
    let peer = extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    let connection = extensions.get::<connections::ConnectionPermit>().cloned();
    let Some(upgrade_permit) = state.upgrades.admit(peer) else {
        let (per_s, burst) = connections::UPGRADES_PER_S;
        return api::ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_upgrades",
            format!(
                "an address may hold {} WebSockets and open {per_s} a second (bursts of {burst}); try later",
                connections::UPGRADES_PER_ADDRESS
            ),
        )
        .into_response();
    };
    let Some(slot) = ws::reserve_client(&state.hub, &limits) else {
        return api::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_clients",
            format!("the server holds {} clients; try later", limits.max_clients),
        )
        .into_response();
    };
    let hub = state.hub.clone();
    upgrade
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        .on_upgrade(move |socket| async move {
            // The address's WebSocket, and its connection, are counted as long as it lives.
            let _permits = (upgrade_permit, connection);
            ws::run_client(socket, hub, limits, slot).await
        })
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub hub: Arc<FeedHub>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Stop accepting, close connections and wait for the server thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Start the server on its own thread and runtime (`threads` workers), so that clients never
/// compete with the twin's ingest for its threads. Returns once it listens.
pub fn spawn_server(
    twin: LiveTwin,
    config: ServerConfig,
    threads: usize,
) -> Result<ServerHandle, ServerError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("http-server".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name("http")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ServerError::Start(e.to_string())));
                    return;
                }
            };
            rt.block_on(async move {
                let listen = config.listen;
                let bound = async {
                    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                        ServerError::Bind {
                            addr: listen,
                            why: e.to_string(),
                        }
                    })?;
                    let addr = listener.local_addr().map_err(|e| ServerError::Bind {
                        addr: listen,
                        why: e.to_string(),
                    })?;
                    let hub = FeedHub::start(twin, config.hub)
                        .await
                        .map_err(ServerError::Start)?;
                    Ok::<_, ServerError>((listener, addr, hub))
                };
                let (listener, addr, hub) = match bound.await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let layers = Arc::new(
                    twin_core::EntityKind::ALL
                        .iter()
                        .map(|&k| geo::layer_geometry(&hub.city, k))
                        .collect(),
                );
                let gate = connections::AddressGate::for_connections(&config.limits.connections);
                let state = AppState {
                    hub: hub.clone(),
                    auth: Arc::new(config.auth),
                    limits: config.limits,
                    layers,
                    waste: Arc::default(),
                    scenarios: Arc::new(scenarios::ScenarioJobs::new(config.ev_fit.clone())),
                    report_senders: Arc::default(),
                    connections: gate.clone(),
                    dumps: connections::AddressGate::new(
                        api::DUMPS_IN_FLIGHT,
                        api::DUMPS_PER_ADDRESS,
                    ),
                    upgrades: connections::AddressGate::for_upgrades(),
                    ngsi_ld: Arc::new(ngsi_ld::NgsiLd::new(
                        &hub.city,
                        hub.twin
                            .store_handles()
                            .map(|h| h.ngsi_ld_subscriptions)
                            .as_ref(),
                        config.ngsi_ld_subscribe.clone(),
                        config.ngsi_ld_contexts.clone(),
                    )),
                };
                tokio::spawn(state.ngsi_ld.notifier.clone().run(state.clone()));
                if let Some(upstream) = config.ngsi_ld_upstream.clone() {
                    let bridge = Arc::new(ngsi_ld::Upstream::new(upstream));
                    tokio::spawn(bridge.run(state.clone()));
                }
                if let Some(subscriber) = state.ngsi_ld.subscriber.clone() {
                    tokio::spawn(subscriber.run(state.clone()));
                }
                let _ = ready_tx.send(Ok((addr, hub)));
                connections::serve(
                    listener,
                    router(state),
                    gate,
                    config.limits.connections,
                    async {
                        let _ = rx.await;
                    },
                )
                .await;
            });
            // Open WebSocket tasks end with the runtime.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
        })
        .map_err(|e| ServerError::Start(e.to_string()))?;
    let (addr, hub) = ready_rx
        .recv()
        .map_err(|_| ServerError::Start("the server thread ended".into()))??;
    Ok(ServerHandle {
        addr,
        hub,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
