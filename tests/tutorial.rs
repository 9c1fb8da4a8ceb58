//! docs/tutorial.md walks the README's four users through their first study from a folder of
//! their own, outside the clone. Each test here runs that story's commands in an empty folder
//! (the example files copied in, as the tutorial's `cp` lines do), checks that the files the
//! tutorial points to were written there, and that the tutorial quotes the commands' output as
//! they print it today (run times, which vary, shown as `… s`).

mod common;

use std::path::Path;

/// Copy an example of `scenarios/examples` into `dir`, as `cp ~/citytwin/scenarios/examples/…`.
fn copy_example(dir: &Path, name: &str) {
    std::fs::copy(
        common::root().join("scenarios/examples").join(name),
        dir.join(name),
    )
    .unwrap_or_else(|e| panic!("copy {name}: {e}"));
}

/// Run `twin args` in `dir`; its output as the tutorial shows it, after the command line.
fn session(dir: &Path, args: &[&str]) -> String {
    let out = common::twin_in(dir, args);
    assert!(
        out.status.success(),
        "twin {}: {}",
        args.join(" "),
        common::stderr(&out)
    );
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.to_string()
            }
        })
        .collect();
    format!(
        "$ twin {}\n{}",
        shown.join(" "),
        mask_seconds(&common::stdout(&out))
    )
}

/// Replace run times such as `(1.5 s)` or `in 0.31 s` by `… s`: they differ from run to run.
fn mask_seconds(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(" s") {
        let head = &rest[..pos];
        let digits = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
            .last()
            .map(|(i, _)| i);
        match digits {
            Some(start) if head[start..].contains('.') => {
                out.push_str(&head[..start]);
                out.push('…');
            }
            _ => out.push_str(head),
        }
        out.push_str(" s");
        rest = &rest[pos + 2..];
    }
    out.push_str(rest);
    out
}

fn quote(key: &str, sessions: &[String]) {
    common::check_doc_numbers(
        "docs/tutorial.md",
        key,
        &format!("\n```text\n{}```\n", sessions.join("\n")),
    );
}

#[test]
fn the_city_manager_closes_a_street_from_a_folder_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_example(dir.path(), "roadworks-republicii.toml");
    let find = session(dir.path(), &["find", "Bulevardul Republicii"]);
    let run = session(
        dir.path(),
        &["scenario", "run", "roadworks-republicii.toml"],
    );
    assert!(find.contains("street:2426"), "{find}");
    assert!(run.contains("travel time (vehicle-hours)"), "{run}");
    for file in ["report.html", "report.json", "timeseries.csv"] {
        let path = dir
            .path()
            .join("scenario-reports/roadworks-republicii")
            .join(file);
        assert!(path.exists(), "{} was not written", path.display());
    }
    quote("city-manager", &[find, run]);
}

#[test]
fn the_utility_planner_fails_a_substation_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outage = session(dir.path(), &["outage", "--fail", "Stația 110/20 kV Est"]);
    assert!(outage.contains("no tie switch reaches it"), "{outage}");
    assert!(outage.contains("SAIDI"), "{outage}");
    copy_example(dir.path(), "water-main-break.toml");
    let water = session(dir.path(), &["scenario", "run", "water-main-break.toml"]);
    assert!(
        dir.path()
            .join("scenario-reports/water-main-break/report.html")
            .exists()
    );
    quote("utility-planner", &[outage, water]);
}

#[test]
fn the_car_maker_studies_ev_charging_on_the_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = session(
        dir.path(),
        &["ev", "study", "--ev-share", "0.15", "--days", "7"],
    );
    assert!(study.contains("grid peak"), "{study}");
    for file in ["report.html", "report.json", "load_curve.csv"] {
        let path = dir.path().join("ev-report").join(file);
        assert!(path.exists(), "{} was not written", path.display());
    }
    quote("car-maker", &[study]);
}

#[test]
fn the_researcher_runs_the_n1_script_from_a_folder_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_example(dir.path(), "n1-posts.rhai");
    copy_example(dir.path(), "substation-failure-switching.toml");
    let run = session(dir.path(), &["script", "n1-posts.rhai"]);
    let csv = std::fs::read_to_string(dir.path().join("script-output/n1-posts/n1-posts.csv"))
        .expect("the ranking the script writes");
    let head: String = csv.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert_eq!(csv.lines().count(), 611, "a header and every post");
    quote(
        "researcher",
        &[
            run,
            format!("$ head -4 script-output/n1-posts/n1-posts.csv\n{head}"),
        ],
    );
}

#[test]
fn run_times_are_masked_and_nothing_else() {
    assert_eq!(
        mask_seconds("run (1.5 s) in 0.31 s; 3 s; 12 sockets"),
        "run (… s) in … s; 3 s; 12 sockets"
    );
}
