//! The server's own tables on the SQLite file keep the contract every
//! store keeps (`linli_test_kit::tables`).

use linli_core::sqlite::DbOptions;
use linli_sync_engine::db::Db;

#[tokio::test]
async fn the_sqlite_file_keeps_the_tables_contract() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        &dir.path().join("server.sqlite3"),
        DbOptions::default(),
        &[],
    )?;
    linli_test_kit::tables::contract(&db).await
}
