//! The example Kubernetes manifests under `deploy/` stay true to the
//! binary: the project file in the ConfigMap loads (every key known), and
//! every container command is a command the binary accepts.

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
    assert!(seen >= 4, "a serve Deployment and three pipeline CronJobs");
}
