//! `fathom models describe`: what a registered model is for, its limits and
//! owner — the text its model cards print.

use crate::commands::events::after_change;
use crate::config::Config;
use crate::store::{actor, open};
use crate::ui::{Ui, print_out, table};
use anyhow::Result;
use clap::Args;
use fathom_registry::{ModelDescription, RegisteredModel, RegistryError};

/// `fathom models describe`
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Registered model name; created if new (owned by you unless --owner
    /// says otherwise), so a model can be described before its first
    /// training.
    pub name: String,
    /// What the model does.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// What it is for, and what not: the "Intended use" of every card.
    #[arg(long, value_name = "TEXT")]
    pub intended_use: Option<String>,
    /// Known limitations: the "Limitations" of every card.
    #[arg(long, value_name = "TEXT")]
    pub limitations: Option<String>,
    /// Who answers for it (a person or team).
    #[arg(long, value_name = "WHO")]
    pub owner: Option<String>,
    /// Why (audit log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

fn print_model(m: &RegisteredModel) -> Result<()> {
    let mut t = table(&["model", &m.name]);
    let shown = |s: &str| {
        if s.is_empty() {
            "(not stated)".to_string()
        } else {
            s.to_string()
        }
    };
    for (k, v) in [
        ("description", shown(&m.description)),
        ("intended use", shown(&m.intended_use)),
        ("limitations", shown(&m.limitations)),
        ("owner", shown(&m.owner)),
        ("updated", m.updated_at.to_rfc3339()),
    ] {
        t.add_row(vec![k.to_string(), v]);
    }
    print_out(&t.to_string())
}

/// Runs `fathom models describe`: with no option it prints what is
/// recorded; otherwise it records the given fields (audited).
pub fn run(config: &Config, ui: &Ui, args: DescribeArgs) -> Result<u8> {
    let mut opened = open(config)?;
    let store = &mut opened.store;
    let asked = [
        &args.description,
        &args.intended_use,
        &args.limitations,
        &args.owner,
    ]
    .iter()
    .any(|x| x.is_some());
    if !asked {
        let m = store.model(&args.name)?;
        if ui.json {
            ui.print_json(&m)?;
        } else {
            print_model(&m)?;
            print_out(&format!(
                "change it with `fathom models describe {} --intended-use TEXT --limitations TEXT …`",
                m.name
            ))?;
        }
        return Ok(0);
    }
    let who = actor();
    let is_new = matches!(store.model(&args.name), Err(RegistryError::NotFound { .. }));
    let owner = match (&args.owner, is_new) {
        (Some(o), _) => Some(o.clone()),
        (None, true) => Some(who.user.clone()),
        (None, false) => None,
    };
    let reason = if args.reason.trim().is_empty() {
        "described from the command line".to_string()
    } else {
        args.reason.clone()
    };
    let m = store.describe_model(
        &ModelDescription {
            name: args.name.clone(),
            description: args.description.clone(),
            intended_use: args.intended_use.clone(),
            limitations: args.limitations.clone(),
            owner,
        },
        &who,
        &reason,
    )?;
    if ui.json {
        ui.print_json(&m)?;
    } else {
        print_model(&m)?;
        print_out(&format!(
            "{} {}; every model card of it now says this (`fathom models card {} VERSION`)",
            if is_new { "created" } else { "described" },
            m.name,
            m.name
        ))?;
    }
    after_change(config, &mut opened.store);
    Ok(0)
}
