//! `fathom config show`: every setting of the merged configuration, its
//! value and where it came from (default, the file, an environment
//! variable or a flag), with secrets redacted.

use crate::config::{Config, Sources};
use crate::ui::{Ui, print_out, table};
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

/// Shown instead of a secret.
const REDACTED: &str = "(redacted)";

/// One setting.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// Dotted key: `section.key`, `section.table.key`.
    pub key: String,
    /// Its value (a list or an inline table whole); secrets redacted.
    pub value: Value,
    /// `default`, the config file's path, `env FATHOM_X` or `flag --x`.
    pub source: String,
    /// `default`, `file`, `env` or `flag`.
    pub kind: &'static str,
}

/// Every setting of `config`, in the order of its tables.
pub fn entries(config: &Config) -> Result<Vec<Entry>> {
    let mut value = serde_json::to_value(config)?;
    complete(config, &mut value)?;
    redact("", &mut value);
    let mut leaves = Vec::new();
    flatten("", &value, &mut leaves);
    // Not settings: `[train.features]` is refused (features are the
    // top-level `[features]`), and training always gives the GBDT the
    // run's seed.
    leaves.retain(|(k, _)| !covers("train.features", k) && k != "train.gbdt.seed");
    Ok(leaves
        .into_iter()
        .map(|(key, value)| {
            let (source, kind) = source_of(&key, &config.sources);
            Entry {
                key,
                value,
                source,
                kind,
            }
        })
        .map(|mut e| {
            // Read by `fathom serve` itself, over the file's value.
            if e.key == "serve.log.salt" && std::env::var_os("FATHOM_LOG_SALT").is_some() {
                e.value = Value::String(REDACTED.into());
                e.source = "env FATHOM_LOG_SALT".into();
                e.kind = "env";
            }
            e
        })
        .collect())
}

/// Fills in what the file form leaves out: the built-in pipelines'
/// settings as they run (schedules, catch-up, owners, each task's
/// retries, backoff and timeout), the optional training sections (`null`
/// when unset) and the ensemble settings.
fn complete(config: &Config, value: &mut Value) -> Result<()> {
    value["pipelines"] = serde_json::to_value(crate::pipelines::effective(config)?)?;
    let train = &mut value["train"];
    for optional in ["cv", "search", "feature_selection"] {
        if train.get(optional).is_none() {
            train[optional] = Value::Null;
        }
    }
    if train.get("ensemble").is_none() {
        train["ensemble"] = serde_json::to_value(&config.train.ensemble)?;
    }
    Ok(())
}

/// Objects become dotted keys; lists, scalars and empty tables are values.
pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Whether `a` is `b` or one of its parents (`train.gbdt` of
/// `train.gbdt.num_rounds`).
fn covers(a: &str, b: &str) -> bool {
    b == a || (b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'.'))
}

/// Flags beat the environment, which beats the file, which beats the
/// defaults. A key counts as set by the file when the file sets it, a
/// table above it (an inline table) or a key below it.
fn source_of(key: &str, sources: &Sources) -> (String, &'static str) {
    if let Some(flag) = sources.flags.get(key) {
        return (format!("flag {flag}"), "flag");
    }
    if let Some(var) = sources.env.get(key).or_else(|| {
        // A variable that set a whole inline table.
        sources
            .env
            .iter()
            .find(|(k, _)| covers(k, key))
            .map(|(_, v)| v)
    }) {
        return (format!("env {var}"), "env");
    }
    if let Some(file) = &sources.file
        && sources
            .file_keys
            .iter()
            .any(|f| covers(f, key) || covers(key, f))
    {
        return (file.display().to_string(), "file");
    }
    ("default".into(), "default")
}

/// Whether a key names a secret value.
fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "salt", "password", "token"]
        .iter()
        .any(|s| name == *s || name.ends_with(&format!("_{s}")))
}

/// Replaces secrets inside `v` (at dotted `path`): values of secret keys,
/// passwords and query strings in URLs, and the paths of alert webhook
/// URLs (a Slack-style webhook URL is itself the secret).
fn redact(path: &str, v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let key = format!("{path}.{k}");
                if is_secret_key(k) && !matches!(x, Value::Null | Value::Bool(_)) {
                    if x.as_str() != Some("") {
                        *x = Value::String(REDACTED.into());
                    }
                    continue;
                }
                redact(&key, x);
            }
        }
        Value::Array(a) => {
            for x in a {
                redact(path, x);
            }
        }
        Value::String(s) => {
            let whole = path.starts_with(".monitor.routes.") && path.ends_with(".url");
            if let Some(r) = redact_url(s, whole) {
                *s = r;
            }
        }
        _ => {}
    }
}

/// A URL with its password (and query string) hidden, or with everything
/// after the host hidden when `path_too`; `None` when `s` is not a URL or
/// holds nothing to hide.
fn redact_url(s: &str, path_too: bool) -> Option<String> {
    let at = s.find("://")? + 3;
    let (head, rest) = s.split_at(at);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(i) => {
            let (user, host) = authority.split_at(i);
            match user.split_once(':') {
                Some((name, _)) => format!("{name}:{REDACTED}{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = if path_too && !tail.is_empty() && tail != "/" {
        format!("/{REDACTED}")
    } else {
        match tail.split_once('?') {
            Some((p, _)) => format!("{p}?{REDACTED}"),
            None => tail.to_string(),
        }
    };
    let out = format!("{head}{authority}{tail}");
    (out != s).then_some(out)
}

/// A value as a table cell: text as is, nothing as "(unset)", the rest
/// as compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs `fathom config show`.
pub fn run(config: &Config, ui: &Ui) -> Result<u8> {
    let all = entries(config)?;
    if ui.json {
        ui.print_json(&all)?;
        return Ok(0);
    }
    let file = match &config.sources.file {
        Some(f) => format!("config file {}", f.display()),
        None => "no config file (no ./fathom.toml, no --config)".into(),
    };
    print_out(&format!(
        "{file}; precedence: default < file < FATHOM_<SECTION>__<KEY> < named FATHOM_* variables < flags"
    ))?;
    let mut at = 0;
    while at < all.len() {
        let section = all[at]
            .key
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut t = table(&["key", "value", "source"]);
        while at < all.len() && all[at].key.split('.').next() == Some(section.as_str()) {
            let e = &all[at];
            t.add_row(vec![e.key.clone(), cell(&e.value), e.source.clone()]);
            at += 1;
        }
        print_out(&format!("[{section}]\n{t}"))?;
    }
    let set = all.iter().filter(|e| e.kind != "default").count();
    print_out(&format!(
        "{} settings, {set} not at their default",
        all.len()
    ))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_queries_and_webhook_paths() {
        assert_eq!(
            redact_url("postgres://fathom:s3cret@db.example:5432/runs", false).as_deref(),
            Some("postgres://fathom:(redacted)@db.example:5432/runs")
        );
        assert_eq!(
            redact_url("https://ci.example/hook?token=abc", false).as_deref(),
            Some("https://ci.example/hook?(redacted)")
        );
        assert_eq!(
            redact_url("https://hooks.slack.example/services/T0/B0/XYZ", true).as_deref(),
            Some("https://hooks.slack.example/(redacted)")
        );
        assert_eq!(redact_url("https://ci.example/hook", false), None);
        assert_eq!(redact_url("postgres://fathom@db/runs", false), None);
        assert_eq!(redact_url(".fathom", false), None);
    }

    #[test]
    fn secret_keys_are_hidden_and_their_variable_names_are_not() {
        let mut v = serde_json::json!({
            "registry": {"webhooks": [{"url": "https://a.example/h", "secret": "xyz", "secret_env": "HOOK"}]},
            "serve": {"log": {"salt": "pepper"}, "auth": {"open_read": true}},
            "monitor": {"routes": {"slack": {"url": "https://h.example/services/X"}}},
            "x": {"salt": ""}
        });
        redact("", &mut v);
        assert_eq!(v["registry"]["webhooks"][0]["secret"], REDACTED);
        assert_eq!(v["registry"]["webhooks"][0]["secret_env"], "HOOK");
        assert_eq!(v["registry"]["webhooks"][0]["url"], "https://a.example/h");
        assert_eq!(v["serve"]["log"]["salt"], REDACTED);
        assert_eq!(v["serve"]["auth"]["open_read"], true);
        assert_eq!(
            v["monitor"]["routes"]["slack"]["url"],
            "https://h.example/(redacted)"
        );
        assert_eq!(v["x"]["salt"], "");
    }

    #[test]
    fn a_parent_or_child_key_of_the_file_counts_as_the_file() {
        assert!(covers("features.clip", "features.clip.k"));
        assert!(!covers("features.clip", "features.clipping"));
        assert!(covers("data.rows", "data.rows"));
        let sources = Sources {
            file: Some("f.toml".into()),
            file_keys: vec!["features.clip".into(), "data.rows".into()],
            env: [("data.rows".to_string(), "FATHOM_ROWS".to_string())].into(),
            flags: Default::default(),
        };
        assert_eq!(source_of("features.clip.k", &sources).1, "file");
        assert_eq!(
            source_of("data.rows", &sources),
            ("env FATHOM_ROWS".into(), "env")
        );
        assert_eq!(source_of("data.seed", &sources).1, "default");
    }
}
