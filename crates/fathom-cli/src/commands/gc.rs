//! `fathom gc`: delete the runs and artifacts nothing needs any more (a
//! dry run unless `--apply`).

use crate::config::Config;
use crate::store::{actor, open};
use crate::ui::{Ui, bytes, print_out, table, thousands};
use anyhow::{Result, bail};
use chrono::Duration;
use clap::Args;
use fathom_registry::gc::{ArtifactReason, RunReason};
use fathom_registry::{GcPolicy, GcReport};

/// `fathom gc`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  fathom gc                                   # dry run: what would go, and why
  fathom gc --apply --reason \"monthly tidy-up\"
  fathom gc --runs-older-than 90d --apply     # also unregistered runs older than 90 days

Always kept: the artifacts of active versions, of versions an alias names or
moved to or from within [registry] retention_days, and of versions archived
within that time; every version's run (lineage); kept runs' artifacts; anything
written within --min-age. Versions themselves are never deleted.")]
pub struct GcArgs {
    /// Delete what the dry run lists. Without it nothing is changed.
    #[arg(long)]
    pub apply: bool,
    /// Also delete runs that started longer ago than AGE (e.g. 90d, 12h,
    /// 2w) and produced no registered version, whatever their status.
    /// Failed runs without a version are deleted at any age.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub runs_older_than: Option<Duration>,
    /// Spare artifacts written less than AGE ago: a training running now
    /// may not have recorded them yet.
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_age)]
    pub min_age: Duration,
    /// Why (audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// List every run and artifact, not only the totals.
    #[arg(long, short)]
    pub verbose: bool,
}

/// An age as a number and a unit: `s`, `m`, `h`, `d` or `w` (`90d`).
fn parse_age(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let bad = || {
        format!("'{s}' is not an age; write a whole number and a unit: 30s, 15m, 12h, 90d or 2w")
    };
    let n: i64 = n.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        "w" => Ok(Duration::weeks(n)),
        _ => Err(bad()),
    }
}

/// Runs `fathom gc`.
pub fn run(config: &Config, ui: &Ui, args: GcArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let policy = GcPolicy {
        retention: Duration::days(i64::from(config.registry.retention_days)),
        runs_older_than: args.runs_older_than,
        min_artifact_age: args.min_age,
    };
    let reason = if args.reason.is_empty() {
        "garbage collection from the command line".to_string()
    } else {
        args.reason.clone()
    };
    let report = opened.store.gc(
        opened.artifacts.as_ref(),
        &policy,
        args.apply,
        &actor(),
        &reason,
    )?;
    if ui.json {
        ui.print_json(&report)?;
    } else {
        print_report(&report, &args)?;
    }
    if !report.failures.is_empty() {
        let list: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("  {}: {}", f.uri, f.error))
            .collect();
        bail!(
            "{} artifact(s) could not be deleted (the next `fathom gc --apply` tries again):\n{}",
            report.failures.len(),
            list.join("\n")
        );
    }
    Ok(0)
}

fn print_report(r: &GcReport, args: &GcArgs) -> Result<()> {
    let p = &r.plan;
    let mut t = table(&["what", "why", "count", "size"]);
    for reason in [RunReason::Failed, RunReason::Abandoned, RunReason::Old] {
        let runs: Vec<_> = p.runs.iter().filter(|x| x.reason == reason).collect();
        if !runs.is_empty() {
            let records: u64 = runs.iter().map(|x| x.records).sum();
            t.add_row(vec![
                "runs".to_string(),
                reason.as_str().to_string(),
                thousands(runs.len() as u64),
                format!("{} records", thousands(records)),
            ]);
        }
    }
    for reason in [
        ArtifactReason::Unreferenced,
        ArtifactReason::ArchivedVersion,
        ArtifactReason::DeletedRun,
    ] {
        let arts: Vec<_> = p.artifacts.iter().filter(|x| x.reason == reason).collect();
        if !arts.is_empty() {
            t.add_row(vec![
                "artifacts".to_string(),
                reason.as_str().to_string(),
                thousands(arts.len() as u64),
                bytes(arts.iter().map(|x| x.size_bytes).sum()),
            ]);
        }
    }
    let head = match (r.applied, p.is_empty()) {
        (_, true) => format!("nothing to delete in {}", p.artifact_store),
        (true, false) => format!(
            "deleted {} run(s) and {} artifact(s), freed {} in {}",
            thousands(r.deleted_runs),
            thousands(r.deleted_artifacts),
            bytes(r.freed_bytes),
            p.artifact_store
        ),
        (false, false) => format!(
            "dry run: would delete {} run(s) and {} artifact(s), freeing {} in {}",
            thousands(p.runs.len() as u64),
            thousands(p.artifacts.len() as u64),
            bytes(p.bytes()),
            p.artifact_store
        ),
    };
    print_out(&head)?;
    if !p.is_empty() {
        print_out(&t.to_string())?;
    }
    if args.verbose {
        for x in &p.runs {
            print_out(&format!(
                "run {} ({}/{}, {}, started {})",
                x.id,
                x.experiment,
                x.name,
                x.reason.as_str(),
                x.start_time.format("%Y-%m-%d %H:%M UTC")
            ))?;
        }
        for x in &p.artifacts {
            let mut why = x.reason.as_str().to_string();
            if !x.versions.is_empty() {
                why = format!("{why} {}", x.versions.join(", "));
            }
            print_out(&format!("{} ({}, {why})", x.uri, bytes(x.size_bytes)))?;
        }
    }
    let mut kept = format!(
        "kept {} artifact(s) ({}) that versions, aliases or runs need",
        thousands(p.kept_artifacts),
        bytes(p.kept_bytes)
    );
    if p.spared_recent > 0 {
        kept.push_str(&format!(
            "; spared {} written within {}",
            thousands(p.spared_recent),
            age_text(args.min_age)
        ));
    }
    print_out(&kept)?;
    if !p.expired_versions.is_empty() {
        print_out(&format!(
            "archived past retention (records kept): {}",
            p.expired_versions.join(", ")
        ))?;
    }
    if !r.applied && !p.is_empty() {
        print_out("Nothing was deleted; run the same command with --apply to delete it.")?;
    }
    if let Some(id) = r.audit_id {
        print_out(&format!("audit entry {id}"))?;
    }
    Ok(())
}

fn age_text(d: Duration) -> String {
    if d.num_seconds() % 86_400 == 0 && d.num_days() > 0 {
        format!("{} d", d.num_days())
    } else if d.num_seconds() % 3_600 == 0 && d.num_hours() > 0 {
        format!("{} h", d.num_hours())
    } else {
        format!("{} s", d.num_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_units_or_say_how() {
        assert_eq!(parse_age("90d"), Ok(Duration::days(90)));
        assert_eq!(parse_age("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_age("2w"), Ok(Duration::days(14)));
        assert_eq!(parse_age("0s"), Ok(Duration::zero()));
        for bad in ["", "d", "90", "1.5d", "-1d", "3y"] {
            assert!(parse_age(bad).unwrap_err().contains("90d"), "{bad}");
        }
        assert_eq!(age_text(Duration::hours(1)), "1 h");
        assert_eq!(age_text(Duration::days(2)), "2 d");
    }
}
