//! `linli-bench` runs on a fresh machine as the README says: its
//! side-by-side runs install the Node.js Automerge sync server and the
//! JavaScript automerge-repo client with `npm ci` from the committed lock
//! files (here into a fresh copy of
//! `tests/bench-node`, as a new checkout has it), and every figure prints,
//! as JSON lines with `--json` and as the table without. Tiny sizes: this
//! checks the bench's set-up path and its output, not its figures.

use std::{path::Path, process::Command};

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_linli-bench"))
        .args(args)
        .output()
        .expect("linli-bench runs");
    assert!(
        out.status.success(),
        "linli-bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_bench_installs_its_node_server_from_the_lock_file_and_prints_every_figure() {
    let package = tempfile::tempdir().expect("tempdir");
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-node");
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(committed.join(file), package.path().join(file)).expect("copy");
    }
    let client = package.path().join("client");
    std::fs::create_dir(&client).expect("client dir");
    for file in ["package.json", "package-lock.json", "connected.mjs"] {
        std::fs::copy(committed.join("client").join(file), client.join(file)).expect("copy");
    }
    let dir = package.path().to_string_lossy().to_string();
    let stdout = bench(&[
        "--json",
        "--runs",
        "1",
        "--commits",
        "5",
        "--checkins",
        "20",
        "--versus-kiosks",
        "2",
        "--versus-checkins",
        "5",
        "--connected-kiosks",
        "2",
        "--connected-records",
        // Enough that the server's CPU over the writing phase is more
        // than a clock tick (10 ms, as /proc counts it), so the ratio is
        // of two measurements.
        "20",
        "--many-kiosks",
        "2",
        "--many-per-hall",
        "2",
        "--many-seconds",
        "2",
        "--years-halls",
        "0",
        "--admin-checkins",
        "0",
        "--tables-ops",
        "50",
        "--stores-kiosks",
        "2",
        "--stores-checkins",
        "3",
        "--scale-kiosks",
        "4",
        "--scale-checkins",
        "3",
        "--scale-halls",
        "2",
        "--node-package",
        &dir,
    ]);
    assert!(
        package
            .path()
            .join("node_modules/@automerge/automerge-repo-sync-server/src/index.js")
            .exists(),
        "npm ci installed the Node.js server from the lock file"
    );
    assert!(
        client
            .join("node_modules/@automerge/automerge-repo/package.json")
            .exists(),
        "npm ci installed the JavaScript client from its lock file"
    );
    let figures: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    // Tap to disk 3, reconnect 4, side by side 3, connected 4, many
    // kiosks 5, the server's tables 2, one server on each store 2, one to
    // three instances 3 and failover 1.
    assert_eq!(figures.len(), 27, "{stdout}");
    for instances in 1..=3 {
        let f = figures
            .iter()
            .find(|f| f["instances"] == instances)
            .unwrap_or_else(|| panic!("the figure of {instances} instance(s): {stdout}"));
        let rate = f["records_per_s"].as_f64().unwrap_or(f64::NAN);
        assert!(rate.is_finite() && rate > 0.0, "{f}");
    }
    let failover = figures
        .iter()
        .find_map(|f| f["failover_s"].as_f64())
        .unwrap_or_else(|| panic!("the failover figure: {stdout}"));
    assert!(failover > 0.0 && failover < 60.0, "{failover}");
    // The server's own tables on both stores, the PostgreSQL one started
    // by the bench itself.
    for store in ["SQLite", "PostgreSQL"] {
        let f = figures
            .iter()
            .find(|f| f["store"] == store)
            .unwrap_or_else(|| panic!("the tables figure on {store}: {stdout}"));
        for key in ["provisions_per_s", "lookup_p50_ms", "claims_per_s"] {
            let v = f[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "{key} on {store}: {f}");
        }
    }
    // The many-kiosks run says what bounds it: the CPU of each side.
    assert!(
        figures.iter().any(|f| f["server_cores"].is_number()
            && f["load_generator_cores"].is_number()
            && f["server_cpu_ms_per_record"].is_number()),
        "{stdout}"
    );
    for f in &figures {
        assert!(f["figure"].is_string() && f["value"].is_string(), "{f}");
    }
    let side_by_side: Vec<_> = figures
        .iter()
        .filter(|f| {
            f["figure"]
                .as_str()
                .is_some_and(|s| s.contains("linli / Node"))
        })
        .collect();
    assert_eq!(side_by_side.len(), 6, "{stdout}");
    for f in side_by_side {
        let ratio = f["ratio"].as_f64().unwrap_or(f64::NAN);
        assert!(
            ratio.is_finite() && ratio > 0.0,
            "a ratio of two measurements: {f}"
        );
    }
    let stores: Vec<_> = figures
        .iter()
        .filter(|f| {
            f["figure"]
                .as_str()
                .is_some_and(|s| s.starts_with("one linli-server on"))
        })
        .collect();
    assert_eq!(stores.len(), 2, "one figure per store: {stdout}");
    for f in stores {
        assert!(
            f["records"] == 6.0 && f["records_per_s"].as_f64().is_some_and(|r| r > 0.0),
            "{f}"
        );
    }
    let many = figures
        .iter()
        .find(|f| f["figure"].as_str().is_some_and(|s| s.contains("errors")))
        .expect("the many-kiosks errors figure");
    assert_eq!(many["errors"], 0, "{many}");
    let store = figures
        .iter()
        .find(|f| {
            f["figure"]
                .as_str()
                .is_some_and(|s| s.contains("writes / commits"))
        })
        .expect("the store's writes and commits");
    assert!(
        store["writes"].as_u64().unwrap_or(0) >= store["commits"].as_u64().unwrap_or(0)
            && store["commits"].as_u64().unwrap_or(0) > 0,
        "{store}"
    );

    // Without --json: the table, as the README shows it.
    let table = bench(&[
        "--runs",
        "1",
        "--commits",
        "3",
        "--checkins",
        "0",
        "--versus-kiosks",
        "0",
        "--connected-kiosks",
        "0",
        "--many-kiosks",
        "0",
        "--years-halls",
        "0",
        "--admin-checkins",
        "0",
        "--tables-ops",
        "0",
        "--stores-kiosks",
        "0",
        "--scale-kiosks",
        "0",
    ]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows[0], "| figure (median of 1 runs unless said) | value |");
    assert_eq!(rows.len(), 2 + 3, "{table}");
    assert!(
        rows[2].starts_with("| tap to disk p50 / p99, n=3"),
        "{table}"
    );
}
