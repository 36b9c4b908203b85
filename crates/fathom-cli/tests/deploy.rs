//! The example Kubernetes manifests under `deploy/` stay true to the
//! binary: the project file in the ConfigMap loads (every key known),
//! every container command is a command the binary accepts, and each
//! pipeline's CronJob runs on the cron its logical dates follow.

mod common;

use common::{fathom_with, text};
use std::path::{Path, PathBuf};

fn manifests() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// The `fathom.toml: |` block of the ConfigMap, unindented.
fn project_file() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/configmap.yaml"),
    )
    .unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("fathom.toml: |"));
    lines.next().expect("the ConfigMap holds fathom.toml");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `command: ["fathom", …]` of a manifest.
fn commands(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("command: ["))
        .filter_map(|l| l.strip_suffix(']'))
        .map(|l| {
            l.split(',')
                .map(|a| a.trim().trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_manifests_use_a_valid_project_file_and_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fathom.toml");
    std::fs::write(&config, project_file()).unwrap();
    let cfg = config.to_str().unwrap();
    let env = [("DS_CHAT_WEBHOOK", "https://hooks.example.com/x")];
    let shown = fathom_with(dir.path(), &["--config", cfg, "config", "show"], &env);
    assert!(shown.status.success(), "{}", text(&shown));
    assert!(
        text(&shown).contains("rollout.canary_period"),
        "{}",
        text(&shown)
    );

    let mut seen = 0;
    for file in manifests() {
        let body = std::fs::read_to_string(&file).unwrap();
        for cmd in commands(&body) {
            assert_eq!(cmd[0], "fathom", "{}: {cmd:?}", file.display());
            let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
            // The manifests' config path is the ConfigMap's mount point.
            if let Some(i) = args.iter().position(|a| *a == "--config") {
                args[i + 1] = cfg;
            }
            args.push("--help");
            let o = fathom_with(dir.path(), &args, &env);
            assert!(
                o.status.success(),
                "{}: {cmd:?}: {}",
                file.display(),
                text(&o)
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "a serve Deployment, three pipeline CronJobs and the queued runs' CronJob"
    );
}

/// The `schedule: "…"` of a CronJob manifest.
fn cron_of(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("schedule:"))
        .map(|v| v.trim().trim_matches('"').to_string())
}

#[test]
fn each_pipeline_cronjob_runs_on_the_cron_its_dates_follow() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fathom.toml");
    std::fs::write(&config, project_file()).unwrap();
    let store = dir.path().join("state");
    let env = [
        ("DS_CHAT_WEBHOOK", "https://hooks.example.com/x"),
        ("FATHOM_STORE", store.to_str().unwrap()),
    ];
    let o = fathom_with(
        dir.path(),
        &[
            "--json",
            "--config",
            config.to_str().unwrap(),
            "pipeline",
            "status",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
    for row in status.as_array().unwrap() {
        let name = row["pipeline"].as_str().unwrap();
        // The CronJobs own the schedules: fathom's own scheduler is off.
        assert_eq!(row["enabled"], false, "{row}");
        let body = std::fs::read_to_string(root.join(format!("pipeline-{name}.yaml"))).unwrap();
        assert_eq!(
            cron_of(&body).as_deref(),
            row["schedule"].as_str(),
            "pipeline-{name}.yaml"
        );
    }
    let queued = std::fs::read_to_string(root.join("pipeline-queued.yaml")).unwrap();
    assert!(
        commands(&queued)
            .iter()
            .any(|c| c.ends_with(&["run".to_string(), "--queued".to_string()])),
        "{queued}"
    );
}
