//! `fathom runs`: list, show and compare tracked runs.

use crate::config::Config;
use crate::ui::{Ui, print_out, table};
use anyhow::Result;
use clap::Args;
use fathom_registry::{RunId, RunQuery, RunSummary, SortKey};

/// `fathom runs list`
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only runs of this experiment (the model name `fathom train` used).
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Filter, e.g. "metrics.auc_pr > 0.6 and params.candidate = 'gbdt'"
    /// (conditions joined by `and`; metrics compare with numbers; params,
    /// tags and text attributes with =, != or like).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Sort, e.g. "metrics.auc_pr desc" (default: newest first).
    #[arg(long, value_name = "FIELD [asc|desc]")]
    pub order_by: Option<String>,
    /// Runs per page (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Runs to skip (the next page starts at the offset printed below the table).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// `fathom runs show`
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Run id.
    pub id: RunId,
    /// Show this metric's whole history instead: every logged value, by
    /// step (e.g. search_cv_auc_pr_mean, one step per search trial).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,
}

/// `fathom runs compare`
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Two or more run ids.
    #[arg(required = true, num_args = 2..)]
    pub ids: Vec<RunId>,
}

fn metric_text(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

/// Runs `fathom runs list`.
pub fn list(config: &Config, ui: &Ui, args: ListArgs) -> Result<u8> {
    let mut opened = crate::store::open(config)?;
    let query = RunQuery {
        experiment: args.experiment,
        filter: args.filter.unwrap_or_default(),
        order_by: args.order_by.as_deref().map(SortKey::parse).transpose()?,
        limit: args.limit,
        offset: args.offset,
    };
    let page = opened.store.list_runs(&query)?;
    if ui.json {
        ui.print_json(&page)?;
        return Ok(0);
    }
    let mut t = table(&[
        "run",
        "experiment",
        "name",
        "status",
        "started",
        "AUC-PR",
        "AUC-ROC",
        "logloss",
        "tags",
    ]);
    for r in &page.runs {
        t.add_row(list_row(r));
    }
    print_out(&t.to_string())?;
    match page.next_offset {
        Some(n) => print_out(&format!(
            "{} runs shown; more with --offset {n}",
            page.runs.len()
        ))?,
        None => print_out(&format!("{} runs", page.runs.len()))?,
    }
    Ok(0)
}

fn list_row(r: &RunSummary) -> Vec<String> {
    let best = r.tags.get("best").is_some_and(|b| b == "true");
    let tags = r
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        if best {
            format!("★ {}", r.info.id)
        } else {
            r.info.id.to_string()
        },
        r.info.experiment.clone(),
        r.info.name.clone(),
        r.info.status.as_str().into(),
        r.info.start_time.format("%Y-%m-%d %H:%M:%S").to_string(),
        metric_text(r.metrics.get("auc_pr").copied()),
        metric_text(r.metrics.get("auc_roc").copied()),
        metric_text(r.metrics.get("logloss").copied()),
        tags,
    ]
}

/// Prints every logged value of `metric` of `run`, by step.
fn show_history(
    store: &mut fathom_registry::Store,
    ui: &Ui,
    run: &fathom_registry::Run,
    metric: &str,
) -> Result<u8> {
    let history = store.metric_history(run.info.id, metric)?;
    if history.is_empty() {
        let known: Vec<&str> = run.metrics.keys().map(String::as_str).collect();
        anyhow::bail!(
            "run {} has no metric '{metric}'; {}",
            run.info.id,
            if known.is_empty() {
                "it logged no metrics".to_string()
            } else {
                format!("its metrics are: {}", known.join(", "))
            }
        );
    }
    if ui.json {
        ui.print_json(&serde_json::json!({
            "run": run.info.id, "metric": metric, "history": history,
        }))?;
        return Ok(0);
    }
    let mut t = table(&["step", metric, "logged"]);
    for h in &history {
        t.add_row(vec![
            h.step.to_string(),
            format!("{:.6}", h.value),
            h.recorded_at.to_rfc3339(),
        ]);
    }
    print_out(&t.to_string())?;
    if let Some(latest) = run.metrics.get(metric) {
        print_out(&format!(
            "{} value(s) of {metric} in run {}; latest (step {}): {:.6}",
            history.len(),
            run.info.id,
            latest.step,
            latest.value
        ))?;
    }
    Ok(0)
}

/// Runs `fathom runs show`.
pub fn show(config: &Config, ui: &Ui, args: ShowArgs) -> Result<u8> {
    let mut opened = crate::store::open(config)?;
    let run = opened.store.run(args.id)?;
    if let Some(metric) = &args.metric {
        return show_history(&mut opened.store, ui, &run, metric);
    }
    if ui.json {
        ui.print_json(&run)?;
        return Ok(0);
    }
    let i = &run.info;
    let mut t = table(&["run", &i.id.to_string()]);
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "–".into());
    for (k, v) in [
        ("experiment", i.experiment.clone()),
        ("name", i.name.clone()),
        ("status", i.status.as_str().to_string()),
        ("started", i.start_time.to_rfc3339()),
        (
            "ended",
            i.end_time.map_or_else(|| "–".into(), |t| t.to_rfc3339()),
        ),
        ("source version", opt(&i.source_version)),
        ("data snapshot", opt(&i.data_snapshot)),
        ("seed", i.seed.map_or_else(|| "–".into(), |s| s.to_string())),
        ("host", i.host.clone()),
        ("fathom", i.fathom_version.clone()),
    ] {
        t.add_row(vec![k.to_string(), v]);
    }
    if let Some(f) = &i.failure {
        t.add_row(vec!["failure".to_string(), f.clone()]);
    }
    print_out(&t.to_string())?;
    let mut p = table(&["param", "value"]);
    for (k, v) in &run.params {
        let shown = if v.chars().count() > 80 {
            format!(
                "{}… ({} bytes)",
                v.chars().take(77).collect::<String>(),
                v.len()
            )
        } else {
            v.clone()
        };
        p.add_row(vec![k.clone(), shown]);
    }
    print_out(&p.to_string())?;
    let mut m = table(&["metric", "value", "step"]);
    for (k, r) in &run.metrics {
        m.add_row(vec![
            k.clone(),
            format!("{:.6}", r.value),
            r.step.to_string(),
        ]);
    }
    print_out(&m.to_string())?;
    if run.metrics.values().any(|r| r.step != 0) {
        print_out(&format!(
            "a metric's values step by step: `fathom runs show {} --metric NAME`",
            i.id
        ))?;
    }
    if !run.tags.is_empty() {
        let mut g = table(&["tag", "value"]);
        for (k, v) in &run.tags {
            g.add_row(vec![k.clone(), v.clone()]);
        }
        print_out(&g.to_string())?;
    }
    if !run.artifacts.is_empty() {
        let mut a = table(&["artifact", "sha256", "size", "uri"]);
        for x in &run.artifacts {
            a.add_row(vec![
                x.name.clone(),
                x.sha256.chars().take(16).collect(),
                crate::ui::bytes(x.size_bytes),
                x.uri.clone(),
            ]);
        }
        print_out(&a.to_string())?;
    }
    Ok(0)
}

/// Runs `fathom runs compare`.
pub fn compare(config: &Config, ui: &Ui, args: CompareArgs) -> Result<u8> {
    let mut opened = crate::store::open(config)?;
    let c = opened.store.compare_runs(&args.ids)?;
    if ui.json {
        ui.print_json(&c)?;
        return Ok(0);
    }
    let mut head = vec!["".to_string()];
    head.extend(c.runs.iter().map(|r| format!("run {} ({})", r.id, r.name)));
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = table(&head_refs);
    for m in &c.metrics {
        let mut row = vec![format!("metrics.{} ({:?})", m.key, m.goal).to_lowercase()];
        for (i, v) in m.values.iter().enumerate() {
            let cell = metric_text(*v);
            row.push(if m.best == Some(i) {
                format!("★ {cell}")
            } else {
                cell
            });
        }
        t.add_row(row);
    }
    for p in &c.params {
        let mark = if p.differs { " ≠" } else { "" };
        let mut row = vec![format!("params.{}{mark}", p.key)];
        for v in &p.values {
            let v = v.clone().unwrap_or_else(|| "–".into());
            row.push(if v.chars().count() > 40 {
                format!("{}…", v.chars().take(39).collect::<String>())
            } else {
                v
            });
        }
        t.add_row(row);
    }
    print_out(&t.to_string())?;
    print_out("★ best value of each metric; ≠ params that differ")?;
    Ok(0)
}
