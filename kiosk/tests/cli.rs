//! The `linli-kiosk` program's commands besides the kiosk window, run as
//! an operator would: `restore` puts a copy of a kiosk's store back,
//! keeping the store in use aside, and refuses what is no kiosk's store
//! with a plain message, changing nothing; `--version` says the version;
//! a `--server` pairing link that cannot be used stops the program with
//! the reason before any window opens.

use std::process::Command;

use linli_core::node::{STORE_FILE, journal::Journal};
use linli_core::sqlite::DbOptions;

fn kiosk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linli-kiosk"))
}

#[test]
fn restore_puts_a_copy_back_and_keeps_the_store_in_use_aside() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy)?;
    Journal::open(&copy.join(STORE_FILE), DbOptions::default())?.set_meta(&[("config", "{}")])?;
    let data = dir.path().join("kiosk");
    std::fs::create_dir_all(&data)?;
    std::fs::write(data.join("note.txt"), "in use")?;

    // What is no kiosk's store: refused, nothing moved.
    for bad in [dir.path().join("nowhere"), dir.path().to_path_buf()] {
        let out = kiosk()
            .args(["--data-dir"])
            .arg(&data)
            .args(["restore", "--from"])
            .arg(&bad)
            .output()?;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not restored"), "{err}");
        assert!(data.join("note.txt").exists());
    }

    let out = kiosk()
        .args(["--data-dir"])
        .arg(&data)
        .args(["restore", "--from"])
        .arg(&copy)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("the store that was in use is kept in"),
        "{said}"
    );
    assert!(data.join(STORE_FILE).exists());
    let aside: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("kiosk.before-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(aside[0].path().join("note.txt").exists(), "nothing lost");
    Ok(())
}

#[test]
fn the_version_is_printed() -> anyhow::Result<()> {
    let out = kiosk().arg("--version").output()?;
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("linli-kiosk "), "{said}");
    Ok(())
}

#[test]
fn a_pairing_link_that_cannot_be_used_is_refused_with_the_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cases = [
        // A fingerprint cut short: the link says which part is wrong.
        (
            vec![
                "--server",
                "https://10.0.0.5:7878/#linli-pair?token=lk_1&ca=sha256:12ab",
            ],
            "ca= is not the CA's fingerprint",
        ),
        // A token given twice, differently: which one is meant is unclear.
        (
            vec![
                "--server",
                "https://10.0.0.5:7878/#linli-pair?token=lk_1",
                "--token",
                "lk_2",
            ],
            "differ",
        ),
        // A fingerprint for plain http: never pinned, so refused.
        (
            vec![
                "--server",
                "http://10.0.0.5:7878/#linli-pair?token=lk_1&ca=sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
            "only over https",
        ),
    ];
    for (args, reason) in cases {
        let out = kiosk()
            .arg("--data-dir")
            .arg(dir.path())
            .args(&args)
            .output()?;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join(linli_core::node::PINNED_CA_FILE).exists(),
        "nothing pinned"
    );
    Ok(())
}
