//! The `linli-server` binary as an operator or a script uses it: help on
//! every command, tokens on the last line, exit codes, clean shutdown.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linli-server"))
}

fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    run_on(None, dir, args)
}

/// [`run`] on the PostgreSQL database at `database_url` when given.
fn run_on(
    database_url: Option<&str>,
    dir: &std::path::Path,
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = bin();
    cmd.arg("--data-dir").arg(dir);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.args(args).output().expect("run linli-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_documents_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["hall", "--help"],
        vec!["hall", "add", "--help"],
        vec!["kiosk", "add", "--help"],
        vec!["kiosk", "list", "--help"],
        vec!["kiosk", "revoke", "--help"],
        vec!["admin", "add", "--help"],
        vec!["admin", "token", "--help"],
        vec!["admin", "password", "--help"],
        vec!["admin", "remove", "--help"],
        vec!["admin", "revoke-token", "--help"],
        vec!["admin", "ungrant", "--help"],
        vec!["rebuild-projection", "--help"],
        vec!["resident", "--help"],
        vec!["resident", "erase", "--help"],
        vec!["upgrade-residents", "--help"],
        vec!["tls", "init", "--help"],
    ] {
        let (ok, out, _) = run(dir.path(), &cmd);
        assert!(ok, "{cmd:?}");
        assert!(out.contains("Usage:"), "{cmd:?}: {out}");
    }
}

/// A fresh PostgreSQL server (stopped when dropped) and a database on it.
async fn fresh_postgres() -> (linli_test_kit::TestPostgres, String) {
    let pg = linli_test_kit::TestPostgres::start().expect("PostgreSQL");
    let url = pg.create_database("linli").await.expect("a database");
    (pg, url)
}

#[test]
fn provisioning_from_the_command_line_prints_tokens_last() {
    provisioning_prints_tokens_last(None);
}

#[tokio::test]
async fn provisioning_from_the_command_line_prints_tokens_last_on_postgresql() {
    let (_pg, url) = fresh_postgres().await;
    provisioning_prints_tokens_last(Some(&url));
}

fn provisioning_prints_tokens_last(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |dir: &std::path::Path, args: &[&str]| run_on(database_url, dir, args);
    let (ok, out, err) = run(
        dir.path(),
        &[
            "hall",
            "add",
            "--id",
            "xianfeng",
            "--name",
            "先锋社区党群服务中心",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("automerge:"));
    let (ok, _, err) = run(
        dir.path(),
        &["hall", "add", "--id", "xianfeng", "--name", "again"],
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &["hall", "add", "--id", "Bad Id", "--name", "x"],
    );
    assert!(!ok);
    assert!(err.contains("hall id"), "{err}");

    let (ok, out, err) = run(
        dir.path(),
        &["kiosk", "add", "--hall", "xianfeng", "--name", "大厅入口"],
    );
    assert!(ok, "{err}");
    let token = out.lines().last().expect("a last line");
    assert!(token.starts_with("lk_") && token.len() == 67, "{out}");
    let (ok, _, err) = run(
        dir.path(),
        &["kiosk", "add", "--hall", "nowhere", "--name", "x"],
    );
    assert!(!ok);
    assert!(err.contains("hall nowhere not found"), "{err}");

    let (ok, out, _) = run(dir.path(), &["kiosk", "list"]);
    assert!(ok);
    assert!(
        out.contains("xianfeng-k1") && out.contains("active"),
        "{out}"
    );
    assert!(!out.contains(token));
    let (ok, out, _) = run(dir.path(), &["kiosk", "revoke", "xianfeng-k1"]);
    assert!(ok && out.contains("revoked"));
    let (_, out, _) = run(dir.path(), &["kiosk", "list"]);
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, _) = run(dir.path(), &["kiosk", "revoke", "nope"]);
    assert!(!ok);

    let (ok, _, err) = run(dir.path(), &["admin", "add", "--user", "wang"]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(dir.path(), &["admin", "token", "--user", "wang"]);
    assert!(ok);
    assert!(out.lines().last().unwrap_or("").starts_with("la_"), "{out}");
    let (ok, _, err) = run(dir.path(), &["admin", "token", "--user", "nobody"]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
    let (ok, out, _) = run(dir.path(), &["rebuild-projection"]);
    assert!(ok);
    assert!(out.contains("0 records"), "{out}");
}

#[tokio::test]
async fn housekeeping_from_the_command_line_takes_halls_tokens_and_admins_away() {
    housekeeping(None).await;
}

#[tokio::test]
async fn housekeeping_from_the_command_line_takes_halls_tokens_and_admins_away_on_postgresql() {
    let (_pg, url) = fresh_postgres().await;
    housekeeping(Some(&url)).await;
}

/// `admin ungrant`, `admin revoke-token` and `admin remove` as an IT
/// person runs them: each says what it did, refuses what it cannot do
/// with the reason and a failing exit code, changing nothing, and is in
/// the audit log.
async fn housekeeping(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| run_on(database_url, dir.path(), args);
    for args in [
        &["hall", "add", "--id", "xianfeng", "--name", "先锋"][..],
        &["admin", "add", "--user", "wang"],
        &["admin", "add", "--user", "li", "--role", "hall_staff"],
        &["admin", "grant", "--user", "li", "--hall", "xianfeng"],
    ] {
        let (ok, _, err) = run(args);
        assert!(ok, "{args:?}: {err}");
    }
    let token = || {
        let (ok, out, err) = run(&["admin", "token", "--user", "li"]);
        assert!(ok, "{err}");
        out.lines().last().unwrap_or_default().to_string()
    };
    let (first, second) = (token(), token());

    let (ok, out, _) = run(&["admin", "ungrant", "--user", "li", "--hall", "xianfeng"]);
    assert!(
        ok && out.contains("li may no longer see hall xianfeng"),
        "{out}"
    );
    let (ok, out, _) = run(&["admin", "ungrant", "--user", "li", "--hall", "xianfeng"]);
    assert!(ok && out.contains("nothing was changed"), "{out}");

    let (ok, out, err) = run(&["admin", "revoke-token", "--token", &first]);
    assert!(ok && out.contains("1 API token(s) revoked"), "{out}{err}");
    let (ok, _, err) = run(&["admin", "revoke-token", "--token", &first]);
    assert!(!ok && err.contains("no live API token"), "{err}");
    let (ok, _, err) = run(&["admin", "revoke-token"]);
    assert!(!ok && err.contains("--token"), "neither: {err}");
    let (ok, out, _) = run(&["admin", "revoke-token", "--user", "li"]);
    assert!(
        ok && out.contains("1 API token(s) revoked"),
        "the second: {out}"
    );
    assert!(!out.contains(&second));

    let (ok, _, err) = run(&["admin", "remove", "--user", "wang"]);
    assert!(!ok && err.contains("last central admin"), "{err}");
    let (ok, out, err) = run(&["admin", "remove", "--user", "li"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("admin li removed: 2 token(s), 0 session(s), 0 hall grant(s) removed"),
        "{out}"
    );
    let (ok, _, err) = run(&["admin", "remove", "--user", "li"]);
    assert!(!ok && err.contains("admin li"), "{err}");
    let (ok, _, err) = run(&["admin", "token", "--user", "li"]);
    assert!(!ok && err.contains("not found"), "removed: {err}");

    // An empty password is refused; stdin is no terminal here.
    let mut cmd = bin();
    cmd.arg("--data-dir").arg(dir.path());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let out = cmd
        .args(["admin", "password", "--user", "wang"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty password"));

    let (core, _) =
        linli_sync_server::open_core(dir.path(), database_url, Default::default(), false)
            .await
            .expect("open");
    let audited: Vec<String> = core
        .tables
        .audit_page(
            &linli_sync_engine::db::AuditFilter {
                user: None,
                action: None,
                from_ms: 0,
                to_ms: i64::MAX,
            },
            None,
            100,
        )
        .await
        .expect("audit")
        .into_iter()
        .map(|e| format!("{} {} {}", e.action, e.target, e.after.unwrap_or_default()))
        .collect();
    core.stop().await;
    for want in [
        "ungrant_hall li",
        "revoke_admin_tokens a token 1",
        "revoke_admin_tokens li 1",
        "remove_admin li 2 token(s), 0 session(s), 0 hall grant(s) removed",
    ] {
        assert!(
            audited.iter().any(|a| a.starts_with(want)),
            "{want}: {audited:?}"
        );
    }
}

/// On a terminal (a pseudo-terminal from util-linux's `script`, as an
/// operator's ssh session gives), `admin password` asks twice and shows
/// nothing typed; two different answers change nothing.
#[test]
fn on_a_terminal_the_password_is_asked_twice_without_echo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = run(dir.path(), &["admin", "add", "--user", "wang"]);
    assert!(ok, "{err}");
    let typed = |first: &str, second: &str| {
        let command = format!(
            "(sleep 1; echo {first}; sleep 1; echo {second}; sleep 1) | \
             script -qec '{} --data-dir {} admin password --user wang' /dev/null",
            env!("CARGO_BIN_EXE_linli-server"),
            dir.path().display()
        );
        let out = Command::new("sh")
            .args(["-c", &command])
            .output()
            .expect("script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = typed("not-the-same-1", "not-the-same-2");
    assert!(said.contains("The same again"), "{said}");
    assert!(said.contains("the two passwords differ"), "{said}");
    let said = typed("a-long-secret-9", "a-long-secret-9");
    assert!(said.contains("password set for wang"), "{said}");
    assert!(!said.contains("a-long-secret-9"), "echoed: {said}");
}

#[tokio::test]
async fn setting_a_password_from_the_command_line_ends_the_admins_sessions() {
    password_ends_sessions(None).await;
}

#[tokio::test]
async fn setting_a_password_from_the_command_line_ends_the_admins_sessions_on_postgresql() {
    let (_pg, url) = fresh_postgres().await;
    password_ends_sessions(Some(&url)).await;
}

async fn password_ends_sessions(database_url: Option<&str>) {
    use linli_sync_engine::clock::now_ms;
    use linli_web::console::session;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |dir: &std::path::Path, args: &[&str]| run_on(database_url, dir, args);
    let (ok, _, err) = run(dir.path(), &["admin", "add", "--user", "wang"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(dir.path(), &["admin", "add", "--user", "li"]);
    assert!(ok, "{err}");
    let open = || async {
        linli_sync_server::open_core(dir.path(), database_url, Default::default(), false)
            .await
            .expect("open")
            .0
    };
    let core = open().await;
    let mut sessions = Vec::new();
    for user in ["wang", "wang", "li"] {
        sessions.push(
            linli_sync_engine::accounts::create_session(&*core.tables, user, now_ms())
                .await
                .expect("a session"),
        );
    }
    core.stop().await;
    drop(core);

    let mut child = bin();
    child.arg("--data-dir").arg(dir.path());
    if let Some(url) = database_url {
        child.args(["--database-url", url]);
    }
    let mut child = child
        .args(["admin", "password", "--user", "wang"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run linli-server");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        b"a long new password\n",
    )
    .expect("write the password");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 console session(s) ended"), "{stdout}");
    assert!(!stdout.contains("a long new password"));

    let core = open().await;
    let mut live = Vec::new();
    for id in &sessions {
        let s = session::lookup(&*core.tables, id, now_ms())
            .await
            .expect("lookup");
        live.push(s.map(|s| s.user));
    }
    core.stop().await;
    assert_eq!(live, [None, None, Some("li".to_string())]);
}

#[test]
fn a_bad_configuration_file_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("linli.toml");
    std::fs::write(&cfg, "listen = 42\n").expect("write");
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["serve"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("linli.toml"));
    let (ok, out, _) = run(dir.path(), &["print-config"]);
    assert!(ok);
    assert!(out.contains("listen = \"127.0.0.1:7878\""));
}

#[test]
fn trusted_proxies_come_from_the_file_the_environment_or_the_flag() {
    use clap::Parser as _;
    use linli_sync_server::cli::{Cli, Command, resolve_serve};
    use linli_web::proxies::TrustedProxies;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("linli.toml");
    std::fs::write(&cfg, "trusted_proxies = [\"10.0.0.0/8\"]\n").expect("write");
    let cfg = cfg.to_str().expect("utf-8 path");
    let resolve = |args: &[&str]| {
        let cli = Cli::try_parse_from(args).expect("arguments");
        let Command::Serve(serve) = &cli.command else {
            panic!("not serve")
        };
        resolve_serve(&cli, serve).map(|(config, _)| config.trusted_proxies)
    };
    let proxies = |list: &[&str]| TrustedProxies::parse(list).expect("proxies");
    assert_eq!(
        resolve(&["linli-server", "serve"]).expect("default"),
        TrustedProxies::default(),
        "none by default"
    );
    assert_eq!(
        resolve(&["linli-server", "--config", cfg, "serve"]).expect("file"),
        proxies(&["10.0.0.0/8"])
    );
    assert_eq!(
        resolve(&[
            "linli-server",
            "--config",
            cfg,
            "serve",
            "--trusted-proxies",
            "127.0.0.1,::1"
        ])
        .expect("flag"),
        proxies(&["127.0.0.1", "::1"]),
        "the flag wins"
    );
    let err = resolve(&["linli-server", "serve", "--trusted-proxies", "proxy.local"])
        .expect_err("not an address");
    assert!(
        err.to_string().contains("trusted proxy \"proxy.local\""),
        "{err}"
    );
    // The environment variable is read (and checked) by the binary.
    let out = bin()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LINLI_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/33")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trusted proxy \"10.0.0.0/33\""), "{err}");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = bin()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut demo_token = None;
    let mut listening = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.starts_with("la_") {
            demo_token = Some(line.clone());
        }
        if let Some(addr) = line.strip_prefix("linli-server listening on ") {
            listening = Some(addr.to_string());
            break;
        }
    }
    assert!(demo_token.is_some(), "--demo prints an admin token");
    let addr = listening.expect("listening line");
    assert!(addr.starts_with("http://127.0.0.1:"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Data survives: the demo is not created twice.
    let (ok, out, _) = run(dir.path(), &["hall", "list"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[tokio::test]
async fn erasing_a_resident_from_the_command_line_says_what_it_did() {
    erasing_says_what_it_did(None).await;
}

#[tokio::test]
async fn erasing_a_resident_from_the_command_line_says_what_it_did_on_postgresql() {
    let (_pg, url) = fresh_postgres().await;
    erasing_says_what_it_did(Some(&url)).await;
}

async fn erasing_says_what_it_did(database_url: Option<&str>) {
    use linli_core::{
        docs::ledger,
        ids::RecordId,
        model::{CheckIn, ResidentRef},
        phone::PhoneNumber,
        resident::Contact,
    };
    use linli_sync_engine::{clock::now_ms, projection, provision};
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |dir: &std::path::Path, args: &[&str]| run_on(database_url, dir, args);
    let open = || async {
        linli_sync_server::open_core(dir.path(), database_url, Default::default(), false)
            .await
            .expect("open")
            .0
    };
    let core = open().await;
    provision::add_hall(&core, "xianfeng", "先锋", "Asia/Shanghai")
        .await
        .expect("hall");
    let (kiosk, _) = provision::add_kiosk(&core, "xianfeng", "大厅")
        .await
        .expect("kiosk");
    let phone = PhoneNumber::parse("13812345678").expect("phone");
    let resident = ResidentRef {
        pseudonym: core.residents.pseudonym(&phone).expect("pseudonym"),
        sealed: core
            .residents
            .seal(&Contact {
                phone: phone.expose_digits().to_string(),
                name: Some("王秀英".into()),
            })
            .expect("seal"),
        name_box: None,
    };
    let mut day = ledger::new_ledger("xianfeng", &kiosk.id, "2026-11-24").expect("ledger");
    for r in [Some(resident), None] {
        ledger::add_checkin(
            &mut day,
            &RecordId::new().to_string(),
            &CheckIn {
                activity_id: "act".into(),
                service: None,
                headcount: 1,
                resident: r,
                companions: 0,
                kiosk_id: kiosk.id.clone(),
                at_ms: now_ms(),
            },
        )
        .expect("check-in");
    }
    let handle = core.repos.create("xianfeng", day).await.expect("create");
    let (d, k) = (handle.document_id().to_string(), kiosk.id.clone());
    core.tables
        .claim_doc(&d, "xianfeng", &k, now_ms())
        .await
        .expect("claim");
    projection::project_document(&core, handle.document_id())
        .await
        .expect("project");
    drop(handle);
    core.stop().await;
    drop(core);

    // While a server runs on the directory: refused, pointing at the console.
    let lock = linli_sync_engine::backup::lock(dir.path()).expect("lock");
    let (ok, _, err) = run(dir.path(), &["resident", "erase", "--phone", "13812345678"]);
    assert!(!ok);
    assert!(err.contains("running") && err.contains("console"), "{err}");
    drop(lock);

    let (ok, _, err) = run(dir.path(), &["resident", "erase", "--phone", "1381234"]);
    assert!(!ok, "not a mobile number");
    assert!(!err.is_empty());
    let (ok, out, err) = run(dir.path(), &["resident", "erase", "--phone", "13812345678"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("resident erased: 1 records in 1 documents"),
        "{out}"
    );
    assert!(
        !out.contains("13812345678") && !err.contains("13812345678"),
        "the number is never printed"
    );
    let (ok, out, err) = run(dir.path(), &["resident", "erase", "--phone", "13812345678"]);
    assert!(ok, "{err}");
    assert!(out.contains("nothing was changed"), "{out}");

    // The audit's user column: `user` on SQLite, `user_name` on
    // PostgreSQL (where `user` is a reserved word).
    let user = if database_url.is_some() {
        "user_name"
    } else {
        "user"
    };
    let core = open().await;
    let counts = linli_test_kit::sql::strings(
        &core,
        database_url,
        &format!(
            "SELECT CAST((SELECT count(*) FROM checkins WHERE phone_hash = 'erased') AS TEXT) || ' '
                 || CAST((SELECT count(*) FROM checkins) AS TEXT) || ' '
                 || CAST((SELECT count(*) FROM audit_log
                          WHERE action = 'erase_resident' AND {user} LIKE 'cli:%') AS TEXT)"
        ),
    )
    .await
    .expect("counts");
    core.stop().await;
    assert_eq!(counts, ["1 2 1"], "erased, in all, audited");
}

/// `serve` in the background until it says where it listens; its address.
/// `--log-format json` writes one JSON object a line, for log shippers:
/// the access log's line for a request carries its method, path and
/// status as fields, and no token.
#[tokio::test]
async fn with_json_logs_each_request_is_one_object_without_its_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, addr) = spawn_serving_logging(
        bin().arg("--data-dir").arg(dir.path()).args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]),
        Stdio::piped(),
    );
    let r = reqwest::Client::new()
        .get(format!("{addr}/api/v1/halls?token=la_secret_in_a_query"))
        .bearer_auth("la_secret_in_a_header")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "linli::access" && l["fields"]["path"] == "/api/v1/halls")
        .unwrap_or_else(|| panic!("no access line: {log}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["fields"]["method"], "GET");
    assert_eq!(access["fields"]["status"], 401);
    assert!(!log.contains("la_secret"), "a token in the log: {log}");
}

/// `tls init` makes an office CA and a server certificate, keys readable
/// by their owner alone, never overwriting one; the server serves HTTPS
/// with them, and a client that pins the CA (as a kiosk with `--ca`)
/// connects while one trusting only the public roots is refused.
#[tokio::test]
async fn tls_init_makes_an_office_ca_the_server_serves_https_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("tls");
    let pki_s = pki.to_str().expect("utf-8").to_string();
    let (ok, _, err) = run(dir.path(), &["tls", "init", "--out", &pki_s]);
    assert!(!ok && err.contains("--name"), "a name is needed: {err}");
    let (ok, out, err) = run(
        dir.path(),
        &[
            "tls",
            "init",
            "--out",
            &pki_s,
            "--name",
            "localhost",
            "--name",
            "127.0.0.1",
        ],
    );
    assert!(ok, "{err}");
    let fingerprint = out.lines().last().unwrap_or_default();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{out}");
    assert!(out.contains("--ca office-ca.pem"), "{out}");
    // server.crt holds the chain, leaf then CA, so the certificate the
    // console's pairing link names (the chain's last) is the office CA,
    // with the fingerprint printed here.
    let named = linli_web::tls::pairing_ca(&linli_web::tls::TlsFiles {
        cert: pki.join("server.crt"),
        key: pki.join("server.key"),
    })
    .expect("the chain");
    assert_eq!(named.to_colon_hex(), fingerprint, "{out}");
    #[cfg(unix)]
    for (file, mode) in [
        ("office-ca.key", 0o600),
        ("server.key", 0o600),
        ("office-ca.pem", 0o644),
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let m = std::fs::metadata(pki.join(file))
            .expect(file)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, mode, "{file}");
    }
    let key_before = std::fs::read(pki.join("server.key")).expect("key");
    let (ok, _, err) = run(
        dir.path(),
        &["tls", "init", "--out", &pki_s, "--name", "localhost"],
    );
    assert!(!ok && err.contains("exists already"), "{err}");
    assert_eq!(
        std::fs::read(pki.join("server.key")).expect("key"),
        key_before
    );

    let (child, addr) = spawn_serving(
        bin()
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(pki.join("server.crt"))
            .arg("--tls-key")
            .arg(pki.join("server.key")),
    );
    let port = addr.rsplit(':').next().expect("a port").to_string();
    assert!(addr.starts_with("https://"), "{addr}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.join("office-ca.pem")).expect("ca"))
        .expect("a CA");
    let pinned = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .expect("client");
    for host in ["localhost", "127.0.0.1"] {
        let r = pinned
            .get(format!("https://{host}:{port}/healthz"))
            .send()
            .await
            .expect("https with the office CA");
        assert_eq!(r.status(), 200, "{host}");
    }
    let public_only = reqwest::Client::new()
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(public_only.is_err(), "no public CA issued it");
    stop(child);
}

fn spawn_serving(cmd: &mut Command) -> (std::process::Child, String) {
    spawn_serving_logging(cmd, Stdio::null())
}

/// [`spawn_serving`], its log going to `stderr`.
fn spawn_serving_logging(cmd: &mut Command, stderr: Stdio) -> (std::process::Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let addr = BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("line"))
        .find_map(|l| {
            l.strip_prefix("linli-server listening on ")
                .map(str::to_string)
        })
        .expect("listening line");
    (child, addr)
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_postgresql_from_several_instances() -> anyhow::Result<()> {
    let pg = linli_test_kit::TestPostgres::start()?;
    let url = pg.create_database("linli").await?;
    let (first_dir, second_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);

    // serve takes the database from the environment (and makes the demo
    // halls, the database having none)...
    let (first, addr) = spawn_serving(
        bin()
            .arg("--data-dir")
            .arg(first_dir.path())
            .env("LINLI_DATABASE_URL", &url)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"]),
    );
    let health = reqwest::get(format!("{addr}/healthz")).await?;
    assert!(health.status().is_success(), "{}", health.status());
    // ...operator commands by flag, while it serves.
    let (ok, out, err) = run(
        first_dir.path(),
        &[
            "--database-url",
            &url,
            "hall",
            "add",
            "--id",
            "hongqi",
            "--name",
            "红旗社区党群服务中心",
        ],
    );
    assert!(ok, "{out}{err}");

    // A second instance (its own data directory, a copy of the residents'
    // key) listening on every address cannot be dialled by the first:
    // it is told to say where it is reached, without the URL echoed.
    let key = linli_sync_engine::residents::KEY_FILE;
    std::fs::copy(first_dir.path().join(key), second_dir.path().join(key))?;
    let unreachable = bin()
        .arg("--data-dir")
        .arg(second_dir.path())
        .args(["--database-url", &url, "serve", "--listen", "0.0.0.0:0"])
        .output()?;
    let said = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        !unreachable.status.success(),
        "an instance no peer can dial started"
    );
    assert!(
        said.contains("--advertise-url"),
        "the refusal says what to do: {said}"
    );
    assert!(
        !said.contains(&url),
        "the database URL is not echoed: {said}"
    );
    // On a real address it serves beside the first, the same halls.
    let (second, second_addr) =
        spawn_serving(bin().arg("--data-dir").arg(second_dir.path()).args([
            "--database-url",
            &url,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]));
    let health = reqwest::get(format!("{second_addr}/healthz")).await?;
    assert!(health.status().is_success(), "{}", health.status());
    stop(second);

    // Backups of PostgreSQL are PostgreSQL's own.
    let backup = first_dir.path().join("linli.backup");
    let (ok, _, err) = run(
        first_dir.path(),
        &[
            "--database-url",
            &url,
            "backup",
            "--to",
            &backup.display().to_string(),
        ],
    );
    assert!(!ok && err.contains("pg_dump"), "{err}");
    assert!(!backup.exists(), "no file was written");

    stop(first);
    // The configuration file names the database too; the demo halls and
    // the one added before are all there.
    let config = first_dir.path().join("linli.toml");
    std::fs::write(&config, format!("database_url = \"{url}\"\n"))?;
    let (ok, out, err) = run(
        first_dir.path(),
        &["--config", &config.display().to_string(), "hall", "list"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("hongqi"), "{out}");
    assert_eq!(
        out.lines().count(),
        5,
        "the demo's four halls and hongqi: {out}"
    );
    // With the first stopped, another instance serves the database.
    let (again, _) = spawn_serving(bin().arg("--data-dir").arg(first_dir.path()).args([
        "--database-url",
        &url,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    stop(again);
    Ok(())
}
