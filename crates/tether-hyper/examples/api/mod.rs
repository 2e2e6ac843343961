//! The JSON API the `axum` and `https` examples serve (one router, two transports).
//!
//! Routes:
//!
//! - `GET /` → `Hello, World!`
//! - `GET /items` → every item, as JSON
//! - `GET /items/{id}` → one item, or `404` with a JSON error
//! - `POST /items` with `{"name": "..."}` → `201` and the new item
//! - `GET /stats` → how many requests the API served
//! - anything else → `404` with a JSON error

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// What the handlers share.
#[derive(Default)]
struct AppState {
    items: Mutex<BTreeMap<u64, Item>>,
    next_id: AtomicU64,
    requests: AtomicU64,
}

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn not_found(what: String) -> (StatusCode, Json<ApiError>) {
    (StatusCode::NOT_FOUND, Json(ApiError { error: what }))
}

async fn hello() -> &'static str {
    "Hello, World!"
}

async fn list_items(State(state): State<Arc<AppState>>) -> Json<Vec<Item>> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let items = state.items.lock().unwrap();
    Json(items.values().cloned().collect())
}

async fn get_item(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
) -> Result<Json<Item>, (StatusCode, Json<ApiError>)> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let items = state.items.lock().unwrap();
    match items.get(&id) {
        Some(item) => Ok(Json(item.clone())),
        None => Err(not_found(format!("no item {id}"))),
    }
}

async fn create_item(
    State(state): State<Arc<AppState>>,
    Json(new): Json<NewItem>,
) -> impl IntoResponse {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let item = Item { id, name: new.name };
    state.items.lock().unwrap().insert(id, item.clone());
    (StatusCode::CREATED, Json(item))
}

async fn stats(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let served = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let items = state.items.lock().unwrap().len();
    Json(serde_json::json!({ "requests": served, "items": items }))
}

async fn fallback(uri: axum::http::Uri) -> (StatusCode, Json<ApiError>) {
    not_found(format!("no route for {}", uri.path()))
}

/// The router, with fresh state.
pub fn app() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item))
        .route("/stats", get(stats))
        .fallback(fallback)
        .with_state(Arc::new(AppState::default()))
}
