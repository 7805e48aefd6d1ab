//! What a kiosk build carries: a hall's kiosk (default features) has no
//! sync server and no admin console linked in, and says how to get the
//! demo when asked for it; the `demo` feature brings the server.

use std::process::Command;

/// The crates `linli-kiosk` links (normal and build dependencies) with
/// these features, from `cargo tree` on the committed lock file.
fn linked_crates(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "tree",
        "--locked",
        "-p",
        "linli-kiosk",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_halls_kiosk_links_no_server_and_the_demo_feature_brings_it() {
    let plain = linked_crates(&[]);
    assert!(plain.contains("linli-core"), "{plain}");
    for server_only in ["linli-sync-server", "maud", "rust_xlsxwriter"] {
        assert!(
            !plain
                .lines()
                .any(|l| l.starts_with(&format!("{server_only} "))),
            "a kiosk without `demo` links {server_only}"
        );
    }
    let demo = linked_crates(&["demo"]);
    assert!(
        demo.lines().any(|l| l.starts_with("linli-sync-server ")),
        "the demo feature links the server"
    );
}

/// Built without `demo` (as `cargo test` builds this binary unless the
/// feature is asked for), `--demo` is refused with the command that has it,
/// before a window opens or a data directory is made.
#[cfg(not(feature = "demo"))]
#[test]
fn without_the_demo_feature_demo_names_the_command_that_has_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_linli-kiosk"))
        .arg("--demo")
        .current_dir(dir.path())
        .env_remove("LINLI_SERVER")
        .output()
        .expect("running linli-kiosk");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cargo run -p linli-kiosk --features demo -- --demo --windowed"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing was written"
    );
}
