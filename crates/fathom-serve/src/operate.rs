//! The state-changing endpoints (role `operate`; never open, whatever
//! `open_predict` and `open_read` say): moving the served model's aliases
//! through the registry, which the server then follows like any other
//! move.
//!
//! * `POST /v1/models/{name}/promote` — `{"version": N, "alias":
//!   "production", "reason": "...", "force": false}`: through the
//!   promotion gate (`[registry] promotion`); a refusal is 409 with each
//!   failed rule. `force: true` needs the `admin` role and is audited as
//!   forced, with the rules it overrode.
//! * `POST /v1/models/{name}/rollback` — `{"alias": "production",
//!   "reason": "..."}`: the alias goes back to the version it named
//!   before.
//!
//! Both are audited with the token's name as the actor.

use crate::api::{ApiError, Body, Shared, authorize, finish, json_response, request_id};
use crate::auth::Role;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use fathom_registry::{Actor, AliasMove, Promotion, RegistryError, Store};
use serde::Deserialize;

/// Body of `POST /v1/models/{name}/promote`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The version to point the alias at (a whole number; `3.0` reads as
    /// 3, as JSON Schema's `integer` allows).
    #[serde(deserialize_with = "whole_number")]
    pub version: i64,
    /// The alias (default `production`).
    #[serde(default = "production")]
    pub alias: String,
    /// Why, for the audit log.
    #[serde(default)]
    pub reason: Option<String>,
    /// Move a gated alias past a failing gate (needs `admin`; audited).
    #[serde(default)]
    pub force: bool,
}

/// Body of `POST /v1/models/{name}/rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The alias (default `production`).
    #[serde(default = "production")]
    pub alias: String,
    /// Why, for the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

fn production() -> String {
    "production".into()
}

/// A JSON number with no fractional part, within `i64`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_i64() {
        return Ok(v);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "version {n} is not a whole number a version can have"
        ))),
    }
}

/// The status of a registry error, with one decision per kind.
fn registry_error(e: RegistryError) -> ApiError {
    let (status, code) = match &e {
        RegistryError::PromotionRefused { .. } => (StatusCode::CONFLICT, "promotion_refused"),
        RegistryError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        RegistryError::Conflict(_)
        | RegistryError::AlreadyExists { .. }
        | RegistryError::ChecksumMismatch { .. }
        | RegistryError::ArtifactMissing { .. } => (StatusCode::CONFLICT, "conflict"),
        RegistryError::InvalidInput { .. } | RegistryError::BadFilter { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
        }
        RegistryError::Locked { .. }
        | RegistryError::Unreachable { .. }
        | RegistryError::ObjectStore { .. }
        | RegistryError::Io { .. }
        | RegistryError::Database { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
        }
        RegistryError::ReadOnly { .. }
        | RegistryError::Corrupt { .. }
        | RegistryError::NewerSchema { .. }
        | RegistryError::BadLocation { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "registry_unusable")
        }
    };
    let failures = match &e {
        RegistryError::PromotionRefused { failures, .. } => failures
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("message".into(), f.to_string().into());
                }
                v
            })
            .collect(),
        _ => Vec::new(),
    };
    ApiError::new(status, code, e.to_string()).with_failures(failures)
}

fn bad_body(e: serde_json::Error, expected: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
        format!("the body does not read as {expected}: {e}"),
    )
}

/// Only the served model's aliases are moved through its server.
fn served(state: &Shared, name: &str) -> Result<(), ApiError> {
    if name == state.model {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_served",
            format!(
                "this server serves '{}', not '{name}'; move another model's aliases through its own server or `fathom models`",
                state.model
            ),
        ))
    }
}

/// Runs `change` on a freshly opened registry store, off the async
/// runtime.
async fn with_store<T: Send + 'static>(
    state: &Shared,
    change: impl FnOnce(&mut Store) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, ApiError> {
    let location = state.store_location.clone();
    let artifacts = state.artifacts_location.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&location)?;
        if let Some(a) = artifacts {
            store = store.with_artifact_store(fathom_registry::artifacts::open_artifact_store(&a)?);
        }
        change(&mut store)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!(
                "the registry change stopped unexpectedly ({e}); this is a bug, please report it"
            ),
        )
    })?
    .map_err(registry_error)
}

fn actor(who: &str) -> Actor {
    Actor::new(who, fathom_registry::host_name())
}

fn moved(m: &AliasMove) -> Response {
    json_response(StatusCode::OK, m)
}

/// `POST /v1/models/{name}/promote` (role `operate`; `force` needs `admin`).
pub async fn promote(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let id_header = HeaderValue::from_str(&request_id(&headers)).ok();
    let (who, result) = match authorize(&state, &headers, Role::Operate) {
        Ok(who) => (
            Some(who),
            promote_inner(&state, &headers, &name, who, &body).await,
        ),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

async fn promote_inner(
    state: &Shared,
    headers: &HeaderMap,
    name: &str,
    who: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    served(state, name)?;
    let req: PromoteBody = serde_json::from_slice(body).map_err(|e| {
        bad_body(
            e,
            r#"{"version": N, "alias": "production", "reason": "...", "force": false}"#,
        )
    })?;
    if req.force {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !state.auth.holds(Role::Admin, token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token '{who}' lacks the 'admin' role, which forcing a promotion past the gate needs; promote without force, or ask an admin"
                ),
            ));
        }
    }
    let promotion = Promotion {
        model: name.to_string(),
        version: req.version,
        alias: req.alias,
        force: req.force,
    };
    let reason = req.reason.unwrap_or_else(|| {
        if req.force {
            "forced through the server's API (no reason given)".into()
        } else {
            "promoted through the server's API".into()
        }
    });
    let policy = state.promotion.clone();
    let actor = actor(who);
    let m = with_store(state, move |store| {
        store.promote(&promotion, &policy, &actor, &reason)
    })
    .await?;
    Ok(moved(&m))
}

/// `POST /v1/models/{name}/rollback` (role `operate`).
pub async fn rollback(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let id_header = HeaderValue::from_str(&request_id(&headers)).ok();
    let (who, result) = match authorize(&state, &headers, Role::Operate) {
        Ok(who) => (Some(who), rollback_inner(&state, &name, who, &body).await),
        Err(e) => (None, Err(e)),
    };
    finish(&state, id_header, who, None, result)
}

async fn rollback_inner(
    state: &Shared,
    name: &str,
    who: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    served(state, name)?;
    // An empty body rolls production back.
    let req: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody {
            alias: production(),
            reason: None,
        }
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad_body(e, r#"{"alias": "production", "reason": "..."}"#))?
    };
    let reason = req
        .reason
        .unwrap_or_else(|| "rolled back through the server's API".into());
    let (model, alias, actor) = (name.to_string(), req.alias, actor(who));
    let m = with_store(state, move |store| {
        store.rollback(&model, &alias, &actor, &reason)
    })
    .await?;
    Ok(moved(&m))
}

#[cfg(test)]
mod body_tests {
    use super::PromoteBody;

    #[test]
    fn versions_are_whole_numbers_however_written() {
        let read = |text: &str| serde_json::from_str::<PromoteBody>(text).map(|b| b.version);
        assert_eq!(read(r#"{"version": 3}"#).unwrap(), 3);
        assert_eq!(read(r#"{"version": 3.0}"#).unwrap(), 3);
        for bad in [
            r#"{"version": 1.5}"#,
            r#"{"version": 1e30}"#,
            r#"{"version": "3"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let err = read(r#"{"version": 1.5}"#).unwrap_err().to_string();
        assert!(err.contains("version 1.5 is not a whole number"), "{err}");
    }
}
