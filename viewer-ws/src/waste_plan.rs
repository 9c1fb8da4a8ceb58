//! `GET /api/waste/plan?stream=residual[&format=geojson]`: the next collection round of one
//! stream planned from the live twin's own bin states (levels and fill rates from the sensors)
//! and its open citizen reports, which make their bins must-go. Routes over Pitești's roads
//! from `twin_core::waste`; the road matrix of each stream is built on first use and kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Utc};
use serde_json::json;
use twin_core::CityModel;
use twin_core::entity::{Asset, WasteKind};
use twin_core::waste::collection::{BinPickup, CollectionNetwork, Fleet, check_plan};
use twin_core::waste::policy::{BinState, Choice, choose_from_state, hours_to_next_round};

use crate::AppState;
use crate::api::{ApiError, authorize, bearer, check_params};
use crate::auth::Role;

/// Road matrices per stream, built on first use.
#[derive(Default)]
pub struct WastePlanner {
    networks: Mutex<HashMap<WasteKind, Arc<CollectionNetwork>>>,
}

impl WastePlanner {
    fn network(
        &self,
        city: &CityModel,
        stream: WasteKind,
    ) -> Result<Arc<CollectionNetwork>, String> {
        if let Some(n) = self.lock().get(&stream) {
            return Ok(n.clone());
        }
        let sites = city.collection_sites(stream).map_err(|e| e.to_string())?;
        // Built outside the lock (seconds for a big stream); a concurrent first use builds twice.
        let n = Arc::new(CollectionNetwork::for_stream(city, stream, &sites));
        Ok(self.lock().entry(stream).or_insert(n).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WasteKind, Arc<CollectionNetwork>>> {
        self.networks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// SISR iterations per bin in a live plan.
const ITERATIONS_PER_BIN: u64 = 30;

pub async fn waste_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&state, bearer(&headers), Role::Operator)?;
    check_params(&params, &["stream", "format"])?;
    let name = params.get("stream").map_or("residual", String::as_str);
    let stream = WasteKind::from_name(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("stream=`{name}` is not paper, plastic-metal, glass, bio or residual"),
        )
    })?;
    let geojson = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("geojson") => true,
        Some(f) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                format!("format=`{f}` is not json or geojson"),
            ));
        }
    };
    let twin = &state.hub.twin;
    let city = twin.shared.city.clone();
    // Levels and fill rates as published: current for every bin, also on a node of a cluster.
    let indices: Vec<usize> = city
        .entities()
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.asset, Asset::WasteBin(b) if b.stored_waste_kind == stream))
        .map(|(i, _)| i)
        .collect();
    let published = state
        .hub
        .published_numbers(&indices, &["fillingLevel", "fillRatePerHour"]);
    let reported = twin.shared.reports().priority_bins(&city);
    let planner = state.waste.clone();
    let today = Utc::now().date_naive();
    let weekday = today.weekday().num_days_from_monday();
    let result = tokio::task::spawn_blocking(move || {
        let bins: Vec<BinState> = indices
            .iter()
            .zip(&published)
            .filter_map(|(&i, values)| {
                let e = &city.entities()[i];
                let Asset::WasteBin(b) = &e.asset else {
                    return None;
                };
                Some(BinState {
                    entity: i,
                    volume_l: b.volume_l,
                    location: e.location,
                    level: values[0].unwrap_or(0.0),
                    rate_per_h: values[1].unwrap_or(0.0),
                })
            })
            .collect();
        let fleet = Fleet::default();
        let horizon = hours_to_next_round(stream, weekday);
        let choice = choose_from_state(&bins, &reported, horizon, fleet.capacity_l());
        let pickups: Vec<BinPickup> = bins
            .iter()
            .zip(&choice)
            .filter(|(_, c)| c.is_some())
            .map(|(b, _)| BinPickup {
                entity: b.entity,
                load_l: b.volume_l * b.level.clamp(0.0, 1.0),
            })
            .collect();
        let mut why: HashMap<&'static str, usize> = HashMap::new();
        for c in choice.iter().flatten() {
            *why.entry(c.name()).or_default() += 1;
        }
        let reported_ids: Vec<String> = bins
            .iter()
            .zip(&choice)
            .filter(|(_, c)| **c == Some(Choice::Reported))
            .map(|(b, _)| city.entities()[b.entity].id.to_string())
            .collect();
        let network = planner.network(&city, stream)?;
        let plan = network
            .plan(
                &pickups,
                &fleet,
                1,
                ITERATIONS_PER_BIN * pickups.len() as u64,
            )
            .map_err(|e| e.to_string())?;
        check_plan(&plan, &pickups, &fleet).map_err(|e| format!("infeasible plan: {e}"))?;
        if geojson {
            let sites = city.collection_sites(stream).map_err(|e| e.to_string())?;
            return Ok(plan.routes_geojson(&city, &sites));
        }
        let mut j = plan.to_json(&city);
        j["date"] = json!(today.to_string());
        j["stream"] = json!(stream.name());
        j["policy"] = json!("dynamic");
        j["source"] = json!("live");
        j["horizon_h"] = json!(horizon);
        j["chosen_because"] = json!(why);
        j["reported_bins"] = json!(reported_ids);
        Ok::<String, String>(j.to_string())
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let body = result.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_plan", e))?;
    let content_type = if geojson {
        "application/geo+json"
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
