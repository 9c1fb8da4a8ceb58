//! docs/python.md's recipe is a script that works: the test runs its Python block with `python3`
//! in an empty folder, `twin` on the PATH, and its output must be the output the page quotes.

mod common;

#[test]
fn the_python_recipe_runs_from_an_empty_folder() {
    let doc = std::fs::read_to_string(common::root().join("docs/python.md")).expect("python.md");
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").expect("the block's end");
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("recipe.py");
    std::fs::write(&script, &doc[start..end]).expect("write the script");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_twin"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", common::stderr(&out));
    let printed = common::stdout(&out);
    // What the script says it wrote is there.
    let csv = std::fs::read_to_string(dir.path().join("ev_shares.csv")).expect("ev_shares.csv");
    assert_eq!(csv.lines().count(), 3);
    assert!(dir.path().join("closure-report/report.html").exists());
    assert!(printed.contains("refused: twin outage --fail no such place"));
    common::check_doc_numbers(
        "docs/python.md",
        "python-output",
        &format!("\n```text\n{printed}```\n"),
    );
}
