//! `GET /openapi.json` (OpenAPI 3.1, with the served model's fields as the
//! record schema) and `GET /docs`, a self-contained page rendered from the
//! same description, so both work offline and never disagree.

use crate::api::{Shared, json_response};
use crate::contract::type_name;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fathom_core::ColumnType;
use serde_json::{Value, json};

/// The JSON schema of one field; a required field may not be `null`.
fn field_schema(t: ColumnType, required: bool) -> Value {
    let types = |base: &[&str]| {
        let mut v: Vec<Value> = base.iter().map(|s| json!(s)).collect();
        if !required {
            v.push(json!("null"));
        }
        Value::Array(v)
    };
    match t {
        ColumnType::Numeric => json!({"type": types(&["number"])}),
        ColumnType::Categorical => json!({
            "type": types(&["string"]),
            "description": "a level the model never saw is scored as \"other\""
        }),
        ColumnType::Bool => json!({"type": types(&["boolean"])}),
        ColumnType::Timestamp => {
            let mut any = vec![
                json!({"type": "string", "format": "date-time"}),
                json!({"type": "number"}),
            ];
            if !required {
                any.push(json!({"type": "null"}));
            }
            json!({
                "anyOf": any,
                "description": "RFC 3339 time (e.g. 2024-03-13T12:10:03Z) or seconds since 1970"
            })
        }
    }
}

/// The OpenAPI description of the API for the deployed model.
pub fn spec(state: &Shared) -> Value {
    let d = state.deployment.load_full();
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    if let Some(d) = &d {
        for (name, t, _used, req) in d.primary.model.plan.describe() {
            properties.insert(name.clone(), field_schema(t, req));
            if req {
                required.push(Value::String(name));
            }
        }
    }
    let additional = state.config.unknown_fields == crate::contract::UnknownFields::Ignore;
    let record = json!({
        "type": "object",
        "description": "One record: a member per input field of the model's schema.",
        "properties": properties,
        "required": required,
        "additionalProperties": additional,
    });
    let error = json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "expected": {"type": "string"}, "got": {"type": "string"}}}}
        }}}
    });
    let prediction = json!({
        "type": "object",
        "required": ["request_id", "model", "version", "variant", "score"],
        "properties": {
            "request_id": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "variant": {"type": "string", "enum": ["production", "canary", "fallback"]},
            "score": {"type": "number"},
            "decision": {"type": "boolean"},
            "threshold": {"type": "number"},
            "degraded": {"type": "string"}
        }
    });
    let errors = |codes: &[&str]| {
        let mut m = serde_json::Map::new();
        for c in codes {
            m.insert(
                (*c).to_string(),
                json!({"description": describe_status(c), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        m
    };
    let with = |ok: (&str, Value), codes: &[&str]| {
        let mut m = errors(codes);
        m.insert(ok.0.to_string(), ok.1);
        Value::Object(m)
    };
    let json_body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let model = d.as_ref().map_or(state.model.clone(), |d| d.model.clone());
    let binary = d
        .as_ref()
        .is_none_or(|d| d.primary.model.objective == "binary");
    let label_schema = if binary {
        json!({"enum": [0, 1, true, false]})
    } else {
        json!({"type": "number"})
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("fathom model server: {model}"),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Schema-checked predictions, explanations and feedback for the registered model's deployed versions (production, canary, shadow)."
        },
        "components": {
            "schemas": {"Record": record, "Prediction": prediction, "Error": error},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "paths": {
            "/v1/predict": {"post": {
                "summary": "Score one record",
                "security": [{"bearer": []}, {}],
                "requestBody": json_body(json!({"$ref": "#/components/schemas/Record"})),
                "responses": with(("200", json!({"description": "The answer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}}})), &["401", "403", "408", "413", "422", "429", "503"])
            }},
            "/v1/predict/batch": {"post": {
                "summary": "Score many records (all checked first)",
                "security": [{"bearer": []}, {}],
                "requestBody": json_body(json!({"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}})),
                "responses": with(("200", json!({"description": "One answer per record, in order", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "request_id": {"type": "string"}, "model": {"type": "string"}, "count": {"type": "integer"},
                    "predictions": {"type": "array", "items": {"type": "object", "properties": {"version": {"type": "integer"}, "variant": {"type": "string"}, "score": {"type": "number"}, "decision": {"type": "boolean"}}}}}}}}})), &["401", "403", "408", "413", "422", "429", "503"])
            }},
            "/v1/explain": {"post": {
                "summary": "Score one record with its feature contributions",
                "security": [{"bearer": []}, {}],
                "parameters": [{"name": "top", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}, "description": "Contributions returned, largest first (default 10)"}],
                "requestBody": json_body(json!({"$ref": "#/components/schemas/Record"})),
                "responses": with(("200", json!({"description": "Score, base value and contributions", "content": {"application/json": {"schema": {"type": "object"}}}})), &["400", "401", "403", "422", "503"])
            }},
            "/v1/feedback": {"post": {
                "summary": "The true outcome of an earlier prediction",
                "security": [{"bearer": []}, {}],
                "requestBody": json_body(json!({"type": "object", "required": ["request_id", "label"], "additionalProperties": false, "properties": {"request_id": {"type": "string", "minLength": 1, "maxLength": 160}, "label": label_schema}})),
                "responses": with(("202", json!({"description": "Stored in the prediction log", "content": {"application/json": {"schema": {"type": "object"}}}})), &["401", "403", "409", "422", "503"])
            }},
            "/v1/models": {"get": {
                "summary": "What is deployed: versions, traffic shares and input fields",
                "security": [{"bearer": []}, {}],
                "responses": with(("200", json!({"description": "The deployment", "content": {"application/json": {"schema": {"type": "object"}}}})), &["401", "403", "503"])
            }},
            "/v1/models/{name}/promote": {"post": {
                "summary": "Point an alias of the served model at a version, through the promotion gate (role operate; force needs admin). Audited with the token's name",
                "security": [{"bearer": []}],
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": json_body(json!({"type": "object", "required": ["version"], "additionalProperties": false, "properties": {
                    "version": {"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX},
                    "alias": {"type": "string", "default": "production", "pattern": "^[a-z][a-z0-9_-]{0,63}$"},
                    "reason": {"type": ["string", "null"]},
                    "force": {"type": "boolean", "default": false, "description": "Past a failing gate: needs the admin role, audited as forced"}}})),
                "responses": with(("200", json!({"description": "The alias moved (the server follows it within a poll)", "content": {"application/json": {"schema": {"type": "object"}}}})), &["401", "403", "404", "409", "422", "503"])
            }},
            "/v1/models/{name}/rollback": {"post": {
                "summary": "Move an alias of the served model back to the version it named before (role operate). Audited with the token's name",
                "security": [{"bearer": []}],
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": json_body(json!({"type": "object", "additionalProperties": false, "properties": {
                    "alias": {"type": "string", "default": "production", "pattern": "^[a-z][a-z0-9_-]{0,63}$"},
                    "reason": {"type": ["string", "null"]}}})),
                "responses": with(("200", json!({"description": "The alias moved back", "content": {"application/json": {"schema": {"type": "object"}}}})), &["401", "403", "404", "409", "422", "503"])
            }},
            "/dashboard": {"get": {
                "summary": "The web dashboard: what is served and how it answers, the latest monitoring checks and alerts, versions and alias moves (HTML, refreshes itself)",
                "security": [{"bearer": []}, {}],
                "responses": with(("200", json!({"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}})), &["401", "403"])
            }},
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "The process is up", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/ready": {"get": {"summary": "Readiness: a model version is loaded (store reachability reported)", "responses": {
                "200": {"description": "Ready (or degraded, still answering)", "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": {"description": "No version loaded", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format (OpenMetrics when asked for with Accept)", "content": {"text/plain": {"schema": {"type": "string"}}, "application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This description", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/docs": {"get": {"summary": "The API described for people", "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}}
        }
    })
}

fn describe_status(code: &str) -> &'static str {
    match code {
        "400" => "Bad query parameters",
        "401" => "No or unknown bearer token",
        "403" => "The token lacks the role",
        "408" => "The request took longer than the configured timeout",
        "404" => "No such model or version (or not the model this server serves)",
        "409" => {
            "Refused: the promotion gate failed (each failed rule in `failures`), nothing to roll back to, or feedback without the prediction log"
        }
        "413" => "Body or batch larger than the configured limit",
        "422" => "The record does not match the model's contract: one problem per field",
        "429" => "Over the token's rate limit",
        "503" => {
            "No model loaded yet, no version could score the record, the prediction log cannot take the record, or the registry is unreachable"
        }
        _ => "Error",
    }
}

/// `GET /openapi.json`
pub async fn openapi(State(state): State<Shared>) -> Response {
    json_response(StatusCode::OK, &spec(&state))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /docs`: the description as a page (no scripts, no external files).
pub async fn page(State(state): State<Shared>) -> Response {
    let spec = spec(&state);
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>fathom API</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}code,pre{font-family:ui-monospace,monospace;background:#f4f4f4;padding:.1rem .3rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}h2{margin-top:2rem}.m{font-weight:700;color:#05a}</style></head><body>",
    );
    html.push_str(&format!(
        "<h1>{}</h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a>. Authenticated endpoints take <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
        esc(spec["info"]["title"].as_str().unwrap_or("")),
        esc(spec["info"]["description"].as_str().unwrap_or(""))
    ));
    html.push_str("<h2>Endpoints</h2><table><tr><th>method</th><th>path</th><th>what</th><th>errors</th></tr>");
    if let Some(paths) = spec["paths"].as_object() {
        for (path, ops) in paths {
            if let Some(ops) = ops.as_object() {
                for (method, op) in ops {
                    let codes: Vec<String> = op["responses"]
                        .as_object()
                        .map(|r| r.keys().filter(|k| !k.starts_with('2')).cloned().collect())
                        .unwrap_or_default();
                    html.push_str(&format!(
                        "<tr><td class=\"m\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        method.to_uppercase(),
                        esc(path),
                        esc(op["summary"].as_str().unwrap_or("")),
                        codes.join(" ")
                    ));
                }
            }
        }
    }
    html.push_str("</table><h2>Record fields</h2><table><tr><th>field</th><th>type</th><th>required</th></tr>");
    let required: Vec<&str> = spec["components"]["schemas"]["Record"]["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let d = state.deployment.load_full();
    if let Some(d) = &d {
        for (name, t, used, _) in d.primary.model.plan.describe() {
            html.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&name),
                esc(type_name(t)),
                if required.contains(&name.as_str()) {
                    "yes"
                } else if used {
                    "no (may be null)"
                } else {
                    "no (not a model input)"
                }
            ));
        }
    } else {
        html.push_str("<tr><td colspan=\"3\">No model version is loaded yet.</td></tr>");
    }
    html.push_str("</table><h2>Example</h2><pre>curl -s localhost:8080/v1/predict -H 'content-type: application/json' -d '{\"amount\": 42.5, ...}'</pre>");
    html.push_str("<p>A record that breaks the contract gets <code>422</code> with one entry per problem: <code>{\"error\": {\"code\": \"invalid_record\", \"problems\": [{\"field\", \"expected\", \"got\"}]}}</code>.</p></body></html>");
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}
