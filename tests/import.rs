//! Bring your own network (#23): a utility's EPANET model (L-TOWN, local grid, CMH) with its
//! GIS valve layer and a MATPOWER feeder with bus coordinates become one bundle, checked, and
//! run by `twin outage`, a scenario and `twin serve` with no code of their own; Net3's shared
//! node and link ids; bad inputs refused with the file, the element and the fix.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Killed, free_port, root, stderr, stdout, twin, wait_for_port};

/// L-TOWN's local grid (metres) placed over Pitești: its centre (1485, 847) on the city's.
const LOCAL_GRID: &str = "+proj=tmerc +lat_0=44.8606 +lon_0=24.8678 +k=1 +x_0=1485 +y_0=847 +ellps=GRS80 +units=m +no_defs";

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn ok(args: &[&str]) -> (String, String) {
    let out = twin(args);
    assert!(
        out.status.success(),
        "twin {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    (stdout(&out), stderr(&out))
}

/// L-TOWN with its GIS valves, then case33bw with its bus places, into `dir`.
fn import_both(dir: &Path) {
    let data = root().join("data/import");
    let (out, err) = ok(&[
        "import",
        "epanet",
        path(&data.join("L-TOWN.inp")),
        "--crs",
        LOCAL_GRID,
        "--valves",
        path(&data.join("ltown_valves.gpkg")),
        "--out",
        path(dir),
        "--name",
        "L-TOWN",
    ]);
    assert!(out.contains("flows in CMH"), "{out}");
    assert!(!err.contains("no isolation-valve layer"), "{err}");
    let (out, _) = ok(&[
        "import",
        "matpower",
        path(&root().join("data/power/case33bw.m")),
        "--bus-geo",
        path(&data.join("case33bw_buses.csv")),
        "--crs",
        LOCAL_GRID,
        "--out",
        path(dir),
    ]);
    assert!(
        out.contains("1 substations and 32 transformer posts")
            && out.contains("5 normally open tie switches"),
        "{out}"
    );
}

#[test]
fn a_utilitys_own_networks_run_outages_scenarios_and_the_live_twin() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bundle = tmp.path().join("ltown");
    import_both(&bundle);

    let (check, _) = ok(&["city", "check", path(&bundle)]);
    for expected in [
        "1764 entities",
        "1025 isolation valves for 905 pipes",
        "lowest voltage 0.913 pu",
        "flows in CMH units",
        "ready (",
    ] {
        assert!(check.contains(expected), "`{expected}` in:\n{check}");
    }

    // A 27 m pipe breaks: its valves close it alone, given by its EPANET id.
    let (out, _) = ok(&["outage", "--city", path(&bundle), "--fail", "p1", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let water = &doc["water_breaks"][0];
    assert_eq!(water["broken"], "water:p1", "{doc}");
    assert_eq!(
        water["segment_links"],
        serde_json::json!(["water:p1"]),
        "{doc}"
    );
    assert_eq!(
        water["valves_closed"].as_array().map(Vec::len),
        Some(2),
        "{doc}"
    );
    assert!(
        water["junctions_without_supply"]
            .as_array()
            .is_some_and(|j| j.len() <= 2),
        "{doc}"
    );
    let (out, _) = ok(&["outage", "--city", path(&bundle), "--fail", "power:line-5"]);
    assert!(out.contains("21 posts, 2939 customers"), "{out}");

    // A scenario on the bundle: the break and the feeder fault for three hours.
    let scenario = bundle.join("break.toml");
    std::fs::write(
        &scenario,
        "name = \"L-TOWN break and feeder fault\"\ncity = \".\"\nstart = \"2026-03-04T06:00\"\n\
         horizon = \"6h\"\nstep = \"1h\"\nseed = 1\nmodels = [\"water\", \"power\"]\n\n\
         [[intervention]]\nkind = \"fail\"\nelements = [\"p1\", \"power:line-5\"]\nat = \"1h\"\nduration = \"3h\"\n",
    )
    .expect("scenario");
    let report_dir = tmp.path().join("report");
    ok(&[
        "scenario",
        "run",
        path(&scenario),
        "--out",
        path(&report_dir),
    ]);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("report.json")).expect("report"),
    )
    .expect("JSON");
    let s = &report["scenario"];
    assert_eq!(s["customers_interrupted"], 2939.0, "{s}");
    assert!(
        s["junctions_without_water_max"]
            .as_f64()
            .is_some_and(|j| j <= 2.0),
        "{s}"
    );
    assert_eq!(report["baseline"]["customers_interrupted"], 0.0);

    // The live twin on the bundle: every entity, EPANET ids answered, the networks solved.
    let port = free_port();
    let data = tmp.path().join("twin");
    let _twin = serve(&bundle, &data, port);
    wait_for_port(port, "the L-TOWN twin");
    assert_eq!(get(port, "/health")["entities"], 1764);
    let power = get(port, "/api/entities?layer=power");
    assert_eq!(power["count"], 70, "33 buses, 32 lines, 5 tie switches");
    let pipe = get(port, "/api/entities/p1");
    assert_eq!(
        (pipe["id"].as_str(), pipe["sourceId"].as_str()),
        (Some("water:p1"), Some("p1"))
    );
    let started = Instant::now();
    loop {
        let n1 = get(port, "/api/entities/water:n1");
        let post = get(port, "/api/entities/power:pt-18");
        let pressure = n1["state"]["pressure"].as_f64();
        let voltage = post["state"]["voltage"].as_f64();
        if let (Some(p), Some(v)) = (pressure, voltage) {
            assert!((10.0..120.0).contains(&p), "n1 at {p} m");
            assert!((0.85..1.05).contains(&v), "bus 18 at {v} pu");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no estimates yet: {n1} {post}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let health = get(port, "/health");
    assert_eq!(health["status"], "ok", "{health}");
}

/// `twin serve` on `city` with its store in `data`.
fn serve(city: &Path, data: &Path, port: u16) -> Killed {
    std::fs::create_dir_all(data).expect("data folder");
    common::write_operator_tokens(data, TOKEN);
    let child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--speed",
            "60",
        ])
        .arg("--city")
        .arg(city)
        .arg("--data-dir")
        .arg(data)
        .arg("--tokens")
        .arg(data.join("tokens.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the twin runs");
    Killed(child)
}

const TOKEN: &str = "import-operator-token";

fn get(port: u16, path: &str) -> serde_json::Value {
    let (code, body) = common::http(port, "GET", path, Some(TOKEN), None);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn net3s_shared_node_and_link_ids_become_distinct_entities() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let bundle = tmp.path().join("net3");
    let (_, err) = ok(&[
        "import",
        "epanet",
        path(&root().join("data/water/epanet/Net3.inp")),
        "--crs",
        LOCAL_GRID,
        "--valves-from-inp",
        "--out",
        path(&bundle),
    ]);
    for link in ["10", "20"] {
        let warning = format!(
            "EPANET link `{link}` is entity water:link-{link}: a node has the same EPANET id"
        );
        assert!(err.contains(&warning), "{err}");
    }
    // `20` is node 20 and pipe 20: a failure can only be the pipe.
    let (out, _) = ok(&["outage", "--city", path(&bundle), "--fail", "20", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["water_breaks"][0]["broken"], "water:link-20", "{doc}");
    // `10` is node 10 and pump 10: both found, each with its entity.
    let (found, _) = ok(&["find", "--city", path(&bundle), "10"]);
    assert!(
        found.contains("water:10 — junction") && found.contains("water:link-10 — pump"),
        "{found}"
    );
}

#[test]
fn bad_inputs_name_the_file_the_element_and_the_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = |p: &str| tmp.path().join(p);
    let inp = root().join("data/import/L-TOWN.inp");
    let fails = |args: &[&str], fragments: &[&str]| {
        let o = twin(args);
        assert!(!o.status.success(), "twin {args:?} succeeded");
        let e = stderr(&o);
        for f in fragments {
            assert!(e.contains(f), "`{f}` in: {e}");
        }
        assert!(!Path::new(&out("x")).join("city.toml").exists());
    };
    // No CRS for coordinates in metres: ask for one.
    fails(
        &["import", "epanet", path(&inp), "--out", path(&out("x"))],
        &["L-TOWN.inp", "are not longitude and latitude", "--crs"],
    );
    // A geographic CRS for coordinates in metres: the node that leaves the globe.
    fails(
        &[
            "import",
            "epanet",
            path(&inp),
            "--crs",
            "EPSG:4326",
            "--out",
            path(&out("x")),
        ],
        &["L-TOWN.inp", "node `", "not on the globe"],
    );
    // A projected CRS for coordinates in degrees.
    let degrees = root().join("data/pitesti/water.inp");
    fails(
        &[
            "import",
            "epanet",
            path(&degrees),
            "--crs",
            "EPSG:3844",
            "--out",
            path(&out("x")),
        ],
        &[
            "look like longitude and latitude",
            "EPSG:3844 is a projected CRS",
        ],
    );
    // A node id used twice.
    let twice = out("twice.inp");
    std::fs::write(
        &twice,
        "[JUNCTIONS]\nJ1 100 1\nJ1 101 1\n[RESERVOIRS]\nR 150\n[PIPES]\nP1 R J1 100 300 100\n[COORDINATES]\nJ1 24.86 44.86\nR 24.87 44.86\n[END]\n",
    )
    .expect("inp");
    fails(
        &["import", "epanet", path(&twice), "--out", path(&out("x"))],
        &[
            "twice.inp",
            "line 3: node id `J1` is defined twice (first at line 2): EPANET error 215",
        ],
    );
    // A MATPOWER case with no geography, and bus places that miss buses or repeat one.
    let case = root().join("data/power/case33bw.m");
    fails(
        &["import", "matpower", path(&case), "--out", path(&out("x"))],
        &["case33bw.m", "no geography", "--bus-geo"],
    );
    let few = out("few.csv");
    std::fs::write(
        &few,
        "bus,lon,lat\n1,24.86,44.86\n2,24.87,44.86\n2,24.88,44.86\n",
    )
    .expect("csv");
    fails(
        &[
            "import",
            "matpower",
            path(&case),
            "--bus-geo",
            path(&few),
            "--out",
            path(&out("x")),
        ],
        &["few.csv", "line 4: bus 2 is placed twice (first at line 3)"],
    );
    std::fs::write(&few, "bus,lon,lat\n1,24.86,44.86\n2,24.87,44.86\n").expect("csv");
    fails(
        &[
            "import",
            "matpower",
            path(&case),
            "--bus-geo",
            path(&few),
            "--out",
            path(&out("x")),
        ],
        &[
            "few.csv",
            "31 buses of",
            "have no place (3, 4, 5, 6, 7, and 26 more)",
        ],
    );
    // A bundle whose entities lie far from its centre: `twin city check` says the CRS is wrong.
    let far: PathBuf = out("far");
    import_both(&far);
    let manifest = std::fs::read_to_string(far.join("city.toml")).expect("manifest");
    std::fs::write(
        far.join("city.toml"),
        manifest.replace("centre = [", "centre = [2.0, 48.0]\n# was ["),
    )
    .expect("manifest");
    let o = twin(&["city", "check", path(&far)]);
    assert!(!o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("entities lie more than 60 km from the centre")
            && text.contains("CRS is wrong"),
        "{text}"
    );
}
