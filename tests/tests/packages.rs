//! The Debian packages (issue 17), taken apart as dpkg would and run from
//! their own files. `scripts/package.sh --bin-dir target/debug` packages
//! the binaries this test run built (a release build would add minutes to
//! CI and prove nothing more about the packaging); then each package is
//! read with `dpkg-deb`: its fields, conffiles and maintainer scripts, its
//! files and their modes, its systemd unit checked by
//! `systemd-analyze verify` in a root holding the unpacked files, and its
//! programs run: the server from a configuration written like the packaged
//! one, serving and answering the JSON API; the kiosk's window opened
//! fullscreen under Xvfb, with the session's environment, and run under
//! cage as the session runs it (cage's headless backend standing in for
//! the screen). Lintian, Debian's
//! own checker, finds no error or warning in either.
//!
//! Bad input and how it is handled here: root running a command on a data
//! directory another user owns is refused with the reason and nothing is
//! written there; a unit key systemd does not know would make `verify`
//! print a warning, which fails the test.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};

/// The two packages, built once for both tests.
struct Packages {
    server: PathBuf,
    kiosk: PathBuf,
    _dir: tempfile::TempDir,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// target/debug, where this test binary's workspace put linli-server and
/// linli-kiosk (`cargo test --workspace` builds both).
fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary is in target/<profile>/deps")?
        .to_path_buf();
    for b in ["linli-server", "linli-kiosk"] {
        ensure!(
            dir.join(b).is_file(),
            "{} is not built: run `cargo build -p linli-sync-server -p linli-kiosk` \
             (cargo test --workspace does)",
            dir.join(b).display()
        );
    }
    Ok(dir)
}

fn packages() -> &'static Packages {
    static BUILT: OnceLock<Packages> = OnceLock::new();
    BUILT.get_or_init(|| build().expect("scripts/package.sh builds both packages"))
}

fn build() -> anyhow::Result<Packages> {
    let dir = tempfile::tempdir()?;
    let out = Command::new("bash")
        .arg(workspace().join("scripts/package.sh"))
        .arg("--bin-dir")
        .arg(bin_dir()?)
        .arg("--out")
        .arg(dir.path())
        .current_dir(workspace())
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "package.sh failed: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{said}");
    let arch = run(Command::new("dpkg").arg("--print-architecture"))?;
    let version = env!("CARGO_PKG_VERSION");
    let deb = |name: &str| {
        dir.path()
            .join(format!("{name}_{version}_{}.deb", arch.trim()))
    };
    let (server, kiosk) = (deb("linli-server"), deb("linli-kiosk"));
    ensure!(
        server.is_file() && kiosk.is_file(),
        "named as Debian names packages"
    );
    Ok(Packages {
        server,
        kiosk,
        _dir: dir,
    })
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package unpacked: its files under `root`, its control files under
/// `control`.
struct Unpacked {
    root: PathBuf,
    control: PathBuf,
    fields: String,
    _dir: tempfile::TempDir,
}

fn unpack(deb: &Path) -> anyhow::Result<Unpacked> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    let control = dir.path().join("DEBIAN");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control))?;
    let fields = run(Command::new("dpkg-deb").arg("-f").arg(deb))?;
    // Every file belongs to root, whoever built the package.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb))?;
    for line in listing.lines() {
        ensure!(line.contains(" root/root "), "not root's: {line}");
    }
    Ok(Unpacked {
        root,
        control,
        fields,
        _dir: dir,
    })
}

impl Unpacked {
    fn field(&self, name: &str) -> String {
        self.fields
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    }

    fn mode(&self, path: &str) -> anyhow::Result<u32> {
        let meta = std::fs::metadata(self.root.join(path)).with_context(|| path.to_string())?;
        Ok(meta.permissions().mode() & 0o7777)
    }

    fn conffiles(&self) -> anyhow::Result<Vec<String>> {
        Ok(std::fs::read_to_string(self.control.join("conffiles"))?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// The maintainer scripts are there, executable and valid shell.
    fn check_scripts(&self) -> anyhow::Result<()> {
        for script in ["postinst", "prerm", "postrm"] {
            let path = self.control.join(script);
            ensure!(
                std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0,
                "{script} is executable"
            );
            run(Command::new("sh").arg("-n").arg(&path))?;
        }
        Ok(())
    }

    /// A unit's keys and their values, as systemd reads `Key=value` lines.
    fn unit(&self, path: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let text = std::fs::read_to_string(self.root.join(path))?;
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=')
                && !line.starts_with('#')
            {
                keys.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
        Ok(keys)
    }

    /// The unit's keys, having checked that each of `expected` holds the
    /// value given (a key set twice: its values joined by a space).
    fn unit_with(
        &self,
        path: &str,
        expected: &[(&str, &str)],
    ) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let unit = self.unit(path)?;
        for (key, want) in expected {
            let got = unit.get(*key).map(|v| v.join(" ")).unwrap_or_default();
            ensure!(got == *want, "{path}: {key}={got}, wanted {want}");
        }
        Ok(unit)
    }

    /// The man page is there, compressed, and is a man page for `name`.
    fn check_man_page(&self, name: &str) -> anyhow::Result<String> {
        let gz = self.root.join(format!("usr/share/man/man1/{name}.1.gz"));
        let page = run(Command::new("gzip").arg("-dc").arg(&gz))?;
        ensure!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
        Ok(page)
    }

    /// `systemd-analyze verify` on the unit, in a root holding the
    /// package's files and the host's own units (the targets it names).
    /// Returns what `systemd-analyze security` scores it, or None where
    /// systemd-analyze is not installed.
    fn verify_unit(&self, unit: &str, programs: &[&str]) -> anyhow::Result<Option<String>> {
        if Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("systemd-analyze is not installed: {unit} not verified");
            return Ok(None);
        }
        let host_units = Path::new("/usr/lib/systemd/system");
        let units = self.root.join("usr/lib/systemd/system");
        std::fs::create_dir_all(&units)?;
        for entry in std::fs::read_dir(host_units)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), units.join(entry.file_name()))?;
            }
        }
        // Programs the unit runs that other packages bring (the package
        // depends on them), where this machine has them.
        for program in programs {
            let target = self.root.join(program.trim_start_matches('/'));
            if !target.exists() {
                std::fs::create_dir_all(target.parent().context("a path")?)?;
                std::fs::copy(program, &target)
                    .with_context(|| format!("{program}: install the package that has it"))?;
            }
        }
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(format!("--root={}", self.root.display()))
            .arg(unit)
            .output()?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success() && said.trim().is_empty(),
            "systemd-analyze verify {unit}: {said}"
        );
        let security = run(Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--root={}", self.root.display()))
            .arg(unit))?;
        let overall = security
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .context("security prints an overall level")?
            .to_string();
        Ok(Some(overall))
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_package_installs_a_hardened_service_that_runs_from_its_files()
-> anyhow::Result<()> {
    let deb = unpack(&packages().server)?;
    assert_eq!(deb.field("Package"), "linli-server");
    assert_eq!(deb.field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = deb.field("Depends");
    assert!(depends.contains("libc6 (>="), "{depends}");
    assert!(depends.contains("adduser"), "{depends}");
    // An upgrade keeps the operator's configuration (data is not the
    // package's: /var/lib/linli is made by postinst, never shipped).
    assert_eq!(deb.conffiles()?, ["/etc/linli/server.toml"]);
    assert!(!deb.root.join("var").exists());
    deb.check_scripts()?;
    let postinst = std::fs::read_to_string(deb.control.join("postinst"))?;
    assert!(postinst.contains("adduser --system"), "own system user");
    assert!(postinst.contains("try-restart"), "an upgrade restarts");

    assert_eq!(deb.mode("usr/bin/linli-server")?, 0o755);
    assert_eq!(deb.mode("etc/linli/server.toml")?, 0o644);
    assert!(
        postinst
            .contains("dpkg-statoverride --update --add root linli 0640 /etc/linli/server.toml"),
        "readable by the service alone once installed"
    );
    assert_eq!(deb.mode("lib/systemd/system/linli-server.service")?, 0o644);
    assert!(
        deb.root
            .join("usr/share/doc/linli-server/copyright")
            .is_file()
    );
    let page = deb.check_man_page("linli-server")?;
    assert!(page.contains("/etc/linli/server.toml"), "FILES: {page}");
    for command in [
        "serve",
        "admin-remove",
        "admin-revoke-token",
        "tls-init",
        "backup",
    ] {
        deb.check_man_page(&format!("linli-server-{command}"))?;
    }

    // The unit: its own user, its directories, sandboxed, restarted.
    let unit = deb.unit_with(
        "lib/systemd/system/linli-server.service",
        &[
            (
                "ExecStart",
                "/usr/bin/linli-server --config /etc/linli/server.toml serve",
            ),
            ("User", "linli"),
            ("StateDirectory", "linli"),
            ("ConfigurationDirectory", "linli"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("Restart", "on-failure"),
            ("WantedBy", "multi-user.target"),
        ],
    )?;
    assert!(!unit.contains_key("StandardOutput"), "logs to the journal");
    if let Some(score) = deb.verify_unit("linli-server.service", &[])? {
        println!("linli-server.service: {score}");
        let level: f64 = score
            .split(':')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .context("a figure")?;
        assert!(level <= 2.0, "hardened: {score}");
    }

    // The packaged configuration, every key commented, names the packaged
    // data directory; the server runs from one written like it.
    let packaged = std::fs::read_to_string(deb.root.join("etc/linli/server.toml"))?;
    assert!(
        packaged.contains("data_dir = \"/var/lib/linli\""),
        "{packaged}"
    );
    for key in [
        "database_url",
        "listen",
        "tls_cert",
        "trusted_proxies",
        "durability",
    ] {
        assert!(
            packaged.contains(key),
            "{key} is in the packaged configuration"
        );
    }
    let run_dir = tempfile::tempdir()?;
    let data = run_dir.path().join("var/lib/linli");
    std::fs::create_dir_all(&data)?;
    let config = run_dir.path().join("server.toml");
    std::fs::write(
        &config,
        packaged
            .replace(
                "data_dir = \"/var/lib/linli\"",
                &format!("data_dir = {:?}", data.display().to_string()),
            )
            .replace("listen = \"127.0.0.1:7878\"", "listen = \"127.0.0.1:0\""),
    )?;
    let server = deb.root.join("usr/bin/linli-server");
    let version = run(Command::new(&server).arg("--version"))?;
    assert_eq!(
        version.trim(),
        format!("linli-server {}", env!("CARGO_PKG_VERSION"))
    );
    let linli = |args: &[&str]| {
        let mut c = Command::new(&server);
        c.arg("--config").arg(&config).args(args);
        c
    };
    run(&mut linli(&[
        "hall",
        "add",
        "--id",
        "xianfeng",
        "--name",
        "先锋社区",
    ]))?;
    run(&mut linli(&["admin", "add", "--user", "it"]))?;
    let token = run(&mut linli(&["admin", "token", "--user", "it"]))?;
    let token = token.lines().last().context("a token")?.trim().to_string();

    // Root on a directory the service's user owns: refused, untouched.
    if is_root() {
        let nobody = 65534;
        std::os::unix::fs::chown(&data, Some(nobody), Some(nobody))?;
        let before: Vec<_> = std::fs::read_dir(&data)?.filter_map(|e| e.ok()).collect();
        let out = linli(&["hall", "list"]).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("sudo -u linli"), "{err}");
        assert_eq!(std::fs::read_dir(&data)?.count(), before.len());
        std::os::unix::fs::chown(&data, Some(0), Some(0))?;
    }

    let mut serving = linli(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = serving.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().context("the server said where it listens")??;
        if let Some(url) = line.strip_prefix("linli-server listening on ") {
            break url.to_string();
        }
    };
    let http = reqwest::Client::new();
    for probe in ["healthz", "readyz"] {
        let answer = http.get(format!("{address}/{probe}")).send().await?;
        assert_eq!(answer.status(), 200, "{probe}");
    }
    let halls: serde_json::Value = http
        .get(format!("{address}/api/v1/halls"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert!(halls.to_string().contains("先锋社区"), "{halls}");
    // Stopped as systemd stops it: SIGTERM, a clean exit.
    run(Command::new("kill")
        .arg("-TERM")
        .arg(serving.id().to_string()))?;
    let stopped = serving.wait()?;
    assert!(stopped.success(), "{stopped}");
    assert!(
        std::fs::read_dir(&data)?.count() > 0,
        "the data went to the configured directory"
    );
    Ok(())
}

#[test]
fn the_kiosk_package_sets_up_a_kiosk_session_whose_program_opens_fullscreen() -> anyhow::Result<()>
{
    let deb = unpack(&packages().kiosk)?;
    assert_eq!(deb.field("Package"), "linli-kiosk");
    let depends = deb.field("Depends");
    for needed in [
        "cage",
        "xwayland",
        "libwayland-client0",
        "libxkbcommon0",
        "libegl1",
        "libpam-systemd",
    ] {
        assert!(depends.contains(needed), "{needed}: {depends}");
    }
    assert!(deb.field("Recommends").contains("espeak-ng"));
    assert_eq!(
        deb.conffiles()?,
        ["/etc/linli/kiosk.env", "/etc/pam.d/linli-kiosk"]
    );
    deb.check_scripts()?;
    let postinst = std::fs::read_to_string(deb.control.join("postinst"))?;
    assert!(postinst.contains("adduser --system"), "a dedicated user");
    assert_eq!(deb.mode("usr/bin/linli-kiosk")?, 0o755);
    deb.check_man_page("linli-kiosk")?;
    deb.check_man_page("linli-kiosk-restore")?;

    // The session: a dedicated user logged in on tty7 (PAM, logind) into
    // cage running the kiosk, started again whenever it exits, its store
    // in that user's state directory.
    let unit = deb.unit_with(
        "lib/systemd/system/linli-kiosk.service",
        &[
            ("User", "linli-kiosk"),
            ("PAMName", "linli-kiosk"),
            ("TTYPath", "/dev/tty7"),
            ("ExecStart", "/usr/bin/cage -d -- /usr/bin/linli-kiosk"),
            ("Restart", "always"),
            ("StateDirectory", "linli-kiosk"),
            ("Environment", "LINLI_KIOSK_DATA_DIR=/var/lib/linli-kiosk"),
            ("EnvironmentFile", "-/etc/linli/kiosk.env"),
            ("WantedBy", "graphical.target"),
        ],
    )?;
    let blanking = unit.get("ExecStartPre").map(|v| v.join(" "));
    assert!(
        blanking.is_some_and(|c| c.contains("--blank 0")),
        "no blanking"
    );
    let pam = std::fs::read_to_string(deb.root.join("etc/pam.d/linli-kiosk"))?;
    assert!(pam.contains("common-session"), "a logind session: {pam}");
    // The settings file sets nothing until an operator does.
    let env = std::fs::read_to_string(deb.root.join("etc/linli/kiosk.env"))?;
    assert!(
        env.lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#'))
    );
    if let Some(score) = deb.verify_unit("linli-kiosk.service", &["/usr/bin/cage", "/bin/sh"])? {
        println!("linli-kiosk.service: {score}");
    }

    // The packaged program, with the session's environment, opens its
    // window fullscreen (unpaired: the pairing screen) on a display.
    let display = Xvfb::start()?;
    let store = tempfile::tempdir()?;
    let mut kiosk = Command::new(deb.root.join("usr/bin/linli-kiosk"))
        .env_clear()
        .env("DISPLAY", &display.name)
        .env("LINLI_KIOSK_DATA_DIR", store.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let seen = display.wait_for_window("邻里 Linli", Duration::from_secs(30));
    let exited = kiosk.try_wait()?;
    let _ = kiosk.kill();
    let output = kiosk.wait_with_output()?;
    let window = seen.with_context(|| {
        format!(
            "the kiosk window (exited: {exited:?}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    assert!(
        window.contains(&format!("{}+0+0", display.size)),
        "fullscreen: {window}"
    );
    Ok(())
}

#[test]
fn the_packaged_kiosk_runs_under_cage_as_the_session_runs_it() -> anyhow::Result<()> {
    let deb = unpack(&packages().kiosk)?;
    // The session's command line, with cage's headless backend standing in
    // for the screen (no GPU, no input devices here). Cage runs as long as
    // its one application does: a kiosk that could not open its window
    // would take cage down with it.
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let kiosk = dir.path().join("linli-kiosk");
    std::fs::copy(deb.root.join("usr/bin/linli-kiosk"), &kiosk)?;
    let runtime = dir.path().join("runtime");
    let store = dir.path().join("store");
    for d in [&runtime, &store] {
        std::fs::create_dir(d)?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
    }
    let unit = deb.unit("lib/systemd/system/linli-kiosk.service")?;
    let exec = unit
        .get("ExecStart")
        .and_then(|v| v.first())
        .context("ExecStart")?;
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[..3], ["/usr/bin/cage", "-d", "--"]);
    // Cage refuses to run as root: as root, the session runs as nobody
    // (setpriv execs cage itself, so stopping it stops the session).
    let mut cage = if is_root() {
        let nobody = 65534;
        for d in [&runtime, &store] {
            std::os::unix::fs::chown(d, Some(nobody), Some(nobody))?;
        }
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "cage",
        ]);
        c
    } else {
        Command::new("cage")
    };
    let mut session = cage
        .args(&args[1..3])
        .arg(&kiosk)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("WLR_BACKENDS", "headless")
        .env("WLR_LIBINPUT_NO_DEVICES", "1")
        .env("WLR_RENDERER", "pixman")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("LINLI_KIOSK_DATA_DIR", &store)
        .env("RUST_LOG", "eframe=debug,warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cage (scripts/install-system-deps.sh installs it)")?;
    // Cage writes to stderr, the kiosk's log to stdout.
    let (said, log_rx) = std::sync::mpsc::channel();
    let stdout = session.stdout.take().context("stdout")?;
    let stderr = session.stderr.take().context("stderr")?;
    let readers: [Box<dyn std::io::Read + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
    for mut reader in readers {
        let said = said.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            let _ = said.send(text);
        });
    }
    std::thread::sleep(Duration::from_secs(10));
    let still_running = session.try_wait()?.is_none();
    let _ = session.kill();
    let _ = session.wait();
    // The kiosk leaves once its compositor has gone, closing the log.
    let mut log = String::new();
    for _ in 0..2 {
        log += &log_end(&log_rx)?;
    }
    assert!(still_running, "cage and the kiosk stopped: {log}");
    // The kiosk is cage's Wayland client, drawing with OpenGL.
    assert!(log.contains("Using the glow renderer"), "{log}");
    assert!(
        log.contains("WaylandWindowHandle"),
        "a Wayland window: {log}"
    );
    Ok(())
}

#[test]
fn both_packages_pass_lintian_with_no_warning() -> anyhow::Result<()> {
    let built = packages();
    // Debian's own checks of a package: policy, maintainer scripts,
    // permissions, changelog and copyright, man pages.
    let out = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(&built.server)
        .arg(&built.kiosk)
        .output()
        .context("lintian (scripts/install-system-deps.sh installs it)")?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "lintian: {said}");
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{said}"
    );
    Ok(())
}

/// One of the session's outputs, once it has ended.
fn log_end(from: &std::sync::mpsc::Receiver<String>) -> anyhow::Result<String> {
    from.recv_timeout(Duration::from_secs(20))
        .context("the session's output to end")
}

/// A virtual X display for one test.
struct Xvfb {
    name: String,
    size: &'static str,
    process: std::process::Child,
}

impl Xvfb {
    fn start() -> anyhow::Result<Self> {
        let size = "1280x800";
        // -displayfd 1: Xvfb picks a free display and says which on stdout.
        let mut process = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{size}x24"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("Xvfb (scripts/install-system-deps.sh installs it)")?;
        let mut number = String::new();
        let said = process.stdout.take().context("Xvfb's stdout")?;
        BufReader::new(said).read_line(&mut number)?;
        let number = number.trim();
        if number.is_empty() {
            bail!("Xvfb did not say its display");
        }
        Ok(Self {
            name: format!(":{number}"),
            size,
            process,
        })
    }

    /// The window's line in `xwininfo -tree` once it is mapped.
    fn wait_for_window(&self, title: &str, limit: Duration) -> anyhow::Result<String> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let tree = Command::new("xwininfo")
                .args(["-root", "-tree", "-display", &self.name])
                .output()
                .context("xwininfo (x11-utils)")?;
            if let Some(line) = String::from_utf8_lossy(&tree.stdout)
                .lines()
                .find(|l| l.contains(&format!("\"{title}\"")))
            {
                return Ok(line.trim().to_string());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("no window \"{title}\" within {limit:?}")
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
