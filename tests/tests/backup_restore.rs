//! Backup and restore: an online backup while kiosks sync, a restore of
//! that older backup, and the kiosks healing the server — it ends with
//! every record again, each exactly once. Bad uses are refused without
//! touching what is stored.

use std::time::Duration;

use linli_sync_engine::backup;
use linli_test_kit::{TestKiosk, TestServer, init_logging};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosks_heal_a_server_restored_from_an_older_backup() -> anyhow::Result<()> {
    init_logging();
    let mut server = TestServer::start().await?;
    let a = TestKiosk::pair(&server, "xianfeng", true).await?;
    let b = TestKiosk::pair(&server, "tuanjiexiang", true).await?;
    a.record_checkins("act-a", 20, 1).await?;
    b.record_checkins("act-b", 10, 2).await?;
    server.api.wait_checkins("xianfeng", 20).await?;
    server.api.wait_checkins("tuanjiexiang", 10).await?;

    // Online: the server keeps running and syncing while the copy is made.
    let backups = tempfile::tempdir()?;
    let file = backups.path().join("linli-backup.sqlite3");
    let dir = server.data_dir();
    let f = file.clone();
    let copied = tokio::task::spawn_blocking(move || backup::backup(&dir, &f)).await??;
    assert_eq!(copied.checkins, 30);
    assert!(copied.documents >= 4, "calendars, directories, ledgers");
    // A backup never overwrites a file.
    let (dir, f) = (server.data_dir(), file.clone());
    let again = tokio::task::spawn_blocking(move || backup::backup(&dir, &f)).await?;
    assert!(again.is_err_and(|e| e.to_string().contains("never overwrites")));

    // Life goes on after the backup.
    a.record_checkins("act-a", 15, 3).await?;
    b.record_checkins("act-b", 5, 4).await?;
    server.api.wait_checkins("xianfeng", 35).await?;
    server.api.wait_checkins("tuanjiexiang", 15).await?;

    // Restore refuses to run under a live server.
    let (dir, f) = (server.data_dir(), file.clone());
    let live = tokio::task::spawn_blocking(move || backup::restore(&dir, &f)).await?;
    assert!(live.is_err_and(|e| e.to_string().contains("is running")));
    // A file that is not a backup is refused, the database untouched.
    server.stop().await?;
    let junk = backups.path().join("junk.sqlite3");
    std::fs::write(&junk, b"this is not a database at all, just some bytes")?;
    let dir = server.data_dir();
    let bad = tokio::task::spawn_blocking(move || backup::restore(&dir, &junk)).await?;
    assert!(bad.is_err_and(|e| e.to_string().contains("not a usable Linli server backup")));

    // Restore the older backup; the replaced database is kept.
    let (dir, f) = (server.data_dir(), file.clone());
    let (restored, kept) = tokio::task::spawn_blocking(move || backup::restore(&dir, &f)).await??;
    assert_eq!(restored.checkins, 30);
    assert!(kept.is_some_and(|k| k.exists()));
    server.restart().await?;
    // The kiosks reconnect (they retry with backoff) and sync what the
    // restored server lacks: every record again, none twice.
    server.api.wait_checkins("xianfeng", 35).await?;
    server.api.wait_checkins("tuanjiexiang", 15).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.api.checkin_count("xianfeng").await?, 35);
    assert_eq!(server.api.checkin_count("tuanjiexiang").await?, 15);
    Ok(())
}
