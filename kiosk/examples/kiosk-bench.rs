//! Kiosk figures (a command, no assertions):
//! `cargo run --release -p linli-kiosk --example kiosk-bench`.
//!
//! 1. Frame time p50/p99 of the start and staff screens with 10,000
//!    check-ins in today's ledger (1,000 residents at ten activities;
//!    egui layout and tessellation on the CPU,
//!    driven by egui_kittest; GPU upload is not included).
//! 2. Time from launch to the start screen with 365 days of ledgers in
//!    the store. The year is written straight into the kiosk's store with
//!    its clock moved day by day and the network off (a server takes at
//!    most 24 new documents a day from a kiosk, `limits.rs`, so it cannot
//!    be synced in minutes); the kiosk launches offline, as one that has
//!    not reached its server since.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::TimeZone;
use egui_kittest::{Harness, kittest::Queryable};
use linli_core::{
    KioskNode, KioskNodeOptions,
    node::{NewCheckIn, ResidentInput},
    phone::PhoneNumber,
    sqlite::Durability,
};
use linli_kiosk::{
    app::{KioskApp, Screen},
    worker::Start,
};
use linli_sync_server::in_process::InProcessServer;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e3
}

fn options(
    dir: &std::path::Path,
    now: &Arc<AtomicI64>,
    server: &InProcessServer,
) -> KioskNodeOptions {
    let mut o = KioskNodeOptions::new(dir);
    let n = now.clone();
    o.clock = Arc::new(move || n.load(Ordering::SeqCst));
    o.server_override = Some(server.url.clone());
    o
}

fn frames(h: &mut Harness<'_, KioskApp>, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            h.ctx.request_repaint();
            let t = Instant::now();
            h.step();
            t.elapsed()
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let tz = chrono_tz::Asia::Shanghai;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let morning = tz
        .from_local_datetime(&today.and_hms_opt(10, 45, 0).expect("time"))
        .single()
        .expect("time")
        .timestamp_millis();
    let work = tempfile::tempdir()?;
    let server = InProcessServer::start_at(&work.path().join("server"), None, false)?;
    let rt = tokio::runtime::Runtime::new()?;
    let now = Arc::new(AtomicI64::new(morning));

    // 1. A kiosk with 10,000 check-ins today.
    let busy = work.path().join("busy");
    let token = server.provision_kiosk("繁忙终端")?;
    rt.block_on(async {
        let mut o = options(&busy, &now, &server);
        o.durability = Durability::Normal;
        let node = KioskNode::pair(o, &server.url, &token).await?;
        // 1,000 residents, each at ten activities: a resident's keys are
        // derived once a visit (argon2, tens of milliseconds by design), so
        // 10,000 different residents took some twenty minutes to seed.
        for i in 0..10_000u64 {
            node.record_checkin(NewCheckIn {
                activity_id: format!("bench-{}", i % 10),
                resident: Some(ResidentInput {
                    phone: PhoneNumber::parse(&format!("139{:08}", i / 10))?,
                    name: None,
                }),
                headcount: 1,
                companions: 0,
            })
            .await?;
            if i % 1000 == 999 {
                eprint!("\rrecording today's check-ins: {}/10000", i + 1);
            }
        }
        eprintln!();
        node.wait_synced(Duration::from_secs(600)).await?;
        node.shutdown().await;
        anyhow::Ok(())
    })?;
    let app = KioskApp::new(
        Start::Open(options(&busy, &now, &server)),
        {
            let n = now.clone();
            Arc::new(move || n.load(Ordering::SeqCst))
        },
        tz,
        Arc::new(|| {}),
    )?
    .with_staff_pin("2468");
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    while !h.state().has_activities() {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut start = frames(&mut h, 500);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "工作人员")
        .click();
    h.step();
    for d in "2468".chars() {
        h.get_by_role_and_label(egui::accesskit::Role::Button, &d.to_string())
            .click();
        h.step();
    }
    h.get_by_role_and_label(egui::accesskit::Role::Button, "下一步")
        .click();
    h.step();
    h.step();
    assert!(h.state().screen == Screen::Staff, "staff screen");
    let mut staff = frames(&mut h, 500);
    drop(h);

    // 2. A kiosk with a year of ledgers, launched.
    let year = work.path().join("year");
    let token = server.provision_kiosk("一年的终端")?;
    rt.block_on(async {
        let node = KioskNode::pair(options(&year, &now, &server), &server.url, &token).await?;
        node.wait_synced(Duration::from_secs(60)).await?;
        node.go_offline();
        for d in (0..365).rev() {
            now.store(morning - d * 86_400_000, Ordering::SeqCst);
            node.record_checkin(NewCheckIn {
                activity_id: "daily".into(),
                resident: None,
                headcount: 3,
                companions: 0,
            })
            .await?;
            if d % 30 == 0 {
                eprint!("\rrecording a year of ledgers: {}/365", 365 - d);
            }
        }
        eprintln!();
        node.shutdown().await;
        anyhow::Ok(())
    })?;
    now.store(morning, Ordering::SeqCst);
    let offline = || {
        let mut o = options(&year, &now, &server);
        o.connect = false;
        o
    };
    let mut launches = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let app = KioskApp::new(
            Start::Open(offline()),
            {
                let n = now.clone();
                Arc::new(move || n.load(Ordering::SeqCst))
            },
            tz,
            Arc::new(|| {}),
        )?;
        let mut h = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
        while h.state().screen != Screen::Start {
            h.step();
            std::thread::sleep(Duration::from_millis(1));
        }
        launches.push(t.elapsed());
        drop(h);
    }

    println!("| kiosk figure | value |");
    println!("| --- | --- |");
    println!(
        "| start screen frame, 10,000 check-ins today: p50 / p99 | {:.2} / {:.2} ms |",
        pct(&mut start, 0.5),
        pct(&mut start, 0.99)
    );
    println!(
        "| staff screen frame, 10,000 check-ins today: p50 / p99 | {:.2} / {:.2} ms |",
        pct(&mut staff, 0.5),
        pct(&mut staff, 0.99)
    );
    println!(
        "| launch to start screen, 365 days of ledgers (offline): median of 5 (max) | {:.0} ms ({:.0} ms) |",
        pct(&mut launches, 0.5),
        pct(&mut launches, 1.0)
    );
    Ok(())
}
