//! Running the Chromium scripts of `tests/browser` (playwright-core over
//! Debian's Chromium): each prints one JSON line with what it found, which
//! the Rust test then checks.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, ensure};
use serde_json::Value;

/// Where the scripts, their `node_modules` and the screenshots live.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where the scripts put their screenshots.
pub fn shots_dir() -> PathBuf {
    browser_dir().join("shots")
}

/// Run `script` with `args` in Node and return the JSON line it prints
/// last. Blocking: call it on a blocking thread.
pub fn run_script(script: &str, args: &[&str]) -> anyhow::Result<Value> {
    ensure!(
        browser_dir().join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium or playwright-core is missing: run scripts/install-system-deps.sh"
    );
    let out = Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
        .current_dir(browser_dir())
        .output()
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{script} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .with_context(|| format!("{script} printed no JSON report: {stdout}"))
}
