//! `twin find`: entities by id, name, neighbourhood or street, with their places: the ids and
//! names every other command accepts.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;
use twin_core::AssetKind;
use twin_core::places::Match;

#[derive(Args)]
pub struct FindArgs {
    /// An id, a name or part of one, a neighbourhood or a street (case and Romanian
    /// diacritics aside).
    query: String,
    /// The city bundle (default: Pitești, built into the binary).
    #[arg(long)]
    city: Option<PathBuf>,
    /// Only entities of these kinds, comma-separated: street-segment, substation,
    /// transformer-post, power-line, switch, water-source, tank, junction, pump, valve, pipe,
    /// waste-bin, ev-charger.
    #[arg(long, value_delimiter = ',')]
    kind: Vec<String>,
    /// At most this many entities in the text answer (the JSON lists all).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
}

/// The `--kind` spelling of an asset kind: its name with dashes.
fn kind_flag(kind: AssetKind) -> String {
    kind.name().to_lowercase().replace(' ', "-")
}

pub fn find(args: FindArgs) -> Result<()> {
    let (city, _) = crate::default_city::load(args.city.as_deref())?;
    let kinds = args
        .kind
        .iter()
        .map(|k| {
            let k = k.trim().to_lowercase();
            AssetKind::ALL
                .into_iter()
                .find(|a| kind_flag(*a) == k)
                .ok_or_else(|| {
                    let known: Vec<String> = AssetKind::ALL.into_iter().map(kind_flag).collect();
                    anyhow::anyhow!("--kind {k}: not a kind; one of {}", known.join(", "))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let found = city.find(&args.query, &kinds);
    let matched = |m: Match| match m {
        Match::Id => "id",
        Match::Name => "name",
        Match::NameContains => "part of the name",
        Match::Place => "neighbourhood or street",
    };
    if args.json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(city.place_of(f.index)).unwrap_or_default();
                v["kind"] = json!(kind_flag(city.entities()[f.index].kind()));
                v["matched"] = json!(matched(f.matched));
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "query": args.query, "found": rows }))?
        );
        return Ok(());
    }
    if found.is_empty() {
        bail!(
            "nothing in {} matches `{}` by id, name, neighbourhood or street",
            city.meta.name,
            args.query
        );
    }
    // How each matched, in the order the list gives them: "12 by name, 123 by part of the name".
    let mut how: Vec<(&str, usize)> = Vec::new();
    for f in &found {
        let m = matched(f.matched);
        match how.iter_mut().find(|(k, _)| *k == m) {
            Some((_, n)) => *n += 1,
            None => how.push((m, 1)),
        }
    }
    let how = if how.len() == 1 {
        format!("by {}", how[0].0)
    } else {
        let parts: Vec<String> = how.iter().map(|(m, n)| format!("{n} by {m}")).collect();
        parts.join(", ")
    };
    println!(
        "{} entities of {} match `{}` {how}:",
        found.len(),
        city.meta.name,
        args.query,
    );
    for f in found.iter().take(args.limit) {
        println!(
            "  {} — {}",
            city.place_of(f.index).label(),
            city.entities()[f.index].kind().name()
        );
    }
    if found.len() > args.limit {
        println!(
            "  … {} more (--limit, --kind or --json)",
            found.len() - args.limit
        );
    }
    Ok(())
}
