//! The baseline: a plain axum router answering the API's run routes with bytes captured
//! from the real API, so the difference to the API is what the API does per request
//! (authentication, store queries, the run document) and not HTTP, JSON or the client.

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Bytes;

use crate::Served;

/// Serves the baseline on a new 127.0.0.1 port: `GET /api/v1/-/{project}/runs/{id}`
/// answers `run` (200), `GET /api/v1/-/{project}/runs` answers `list` (200), `POST
/// /api/v1/-/{project}/runs` parses the JSON body and answers `created` (201), like the
/// API does.
pub async fn start(run: Bytes, list: Bytes, created: Bytes) -> anyhow::Result<Served> {
    let router = Router::new()
        .route(
            "/api/v1/-/{project}/runs/{id}",
            get(move |Path((_project, _id)): Path<(String, String)>| {
                let run = run.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], run) }
            }),
        )
        .route(
            "/api/v1/-/{project}/runs",
            get(move |Path(_project): Path<String>| {
                let list = list.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], list) }
            })
            .post(
                move |Path(_project): Path<String>, Json(_body): Json<serde_json::Value>| {
                    let created = created.clone();
                    async move {
                        (
                            StatusCode::CREATED,
                            [(header::CONTENT_TYPE, "application/json")],
                            created,
                        )
                            .into_response()
                    }
                },
            ),
        );
    Served::start(|listener, shutdown| async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    })
    .await
}
