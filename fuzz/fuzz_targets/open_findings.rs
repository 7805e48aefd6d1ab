//! Panics this repository cannot fix where they happen — inside a
//! dependency (automerge, chrono, axum, …) — are open findings: the first inputs of each
//! (by panic location) are saved as `artifacts/<target>/open-*` for triage
//! and fuzzing goes on. Any other panic aborts as a crash, as usual.
//!
//! Triage: find what reaches the dependency, screen it out before it does
//! (e.g. `linli_sync_engine::intake`), and keep the input in
//! `fuzz/regressions/<target>/`.

use std::{cell::RefCell, collections::HashMap, panic, sync::Mutex, sync::Once};

static HOOK: Once = Once::new();
static SAVED: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

thread_local! {
    static OPEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn is_open(file: &str) -> bool {
    file.contains("/.cargo/registry/")
}

/// Run `harness` on `data`; save open findings (and say so), abort on
/// anything else.
pub fn run(target: &str, data: &[u8], harness: impl FnOnce(&[u8])) -> bool {
    HOOK.call_once(|| {
        // libfuzzer-sys's hook prints the panic and aborts.
        let crash = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            match info.location().filter(|l| is_open(l.file())) {
                Some(l) => {
                    let at = format!("{}:{}", l.file(), l.line());
                    OPEN.with(|o| *o.borrow_mut() = Some(at));
                }
                None => crash(info),
            }
        }));
    });
    let open = panic::catch_unwind(panic::AssertUnwindSafe(|| harness(data))).is_err();
    if open {
        let at = OPEN.with(|o| o.borrow_mut().take()).unwrap_or_default();
        let mut saved = SAVED.lock().unwrap_or_else(|p| p.into_inner());
        let n = saved.get_or_insert_with(HashMap::new).entry(at.clone()).or_default();
        *n += 1;
        if *n <= 3 {
            let parts: Vec<&str> = at.rsplit('/').take(3).collect();
            let slug: String = parts
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let dir = std::path::Path::new("artifacts").join(target);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("open-{slug}-{n}")), data);
            eprintln!("open finding at {at} (saved, fuzzing goes on)");
        }
    }
    open
}
