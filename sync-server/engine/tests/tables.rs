//! The server's own tables and the projection's on the SQLite file keep
//! the contracts every store keeps (`linli_test_kit::tables`,
//! `linli_test_kit::projection`).

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

#[tokio::test]
async fn the_sqlite_file_keeps_the_projection_contract() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        &dir.path().join("server.sqlite3"),
        DbOptions::default(),
        &[(
            "projection",
            linli_sync_engine::projection_schema::MIGRATIONS,
        )],
    )?;
    linli_test_kit::projection::contract(&db, &db).await
}
