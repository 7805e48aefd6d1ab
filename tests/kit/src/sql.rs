//! Plain SQL on a server's store, whichever it is, for tests that look at
//! or seed rows no interface lists or writes (a before/after snapshot of
//! tables, a row in an odd state). Written once in SQL that SQLite and
//! PostgreSQL both read (`CAST(… AS TEXT)`, `||`, literals), it runs on
//! the SQLite file through the core or on the PostgreSQL database by URL.

use linli_sync_engine::ServerCore;

/// The first column, as text, of every row `sql` returns.
pub async fn strings(
    core: &ServerCore,
    database_url: Option<&str>,
    sql: &str,
) -> anyhow::Result<Vec<String>> {
    match database_url {
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            let rows = client.query(sql, &[]).await?;
            drop(client);
            let _ = connection.await;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        }
        None => {
            let sql = sql.to_string();
            Ok(core
                .sqlite("a test query")?
                .run(move |c| {
                    let err = |e| linli_sync_engine::Error::db("a test query", e);
                    let mut stmt = c.prepare(&sql).map_err(err)?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(err)
                })
                .await?)
        }
    }
}

/// Run statements (no parameters).
pub async fn execute(
    core: &ServerCore,
    database_url: Option<&str>,
    sql: &str,
) -> anyhow::Result<()> {
    match database_url {
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            client.batch_execute(sql).await?;
            drop(client);
            let _ = connection.await;
            Ok(())
        }
        None => {
            let sql = sql.to_string();
            Ok(core
                .sqlite("a test seed")?
                .run(move |c| {
                    c.execute_batch(&sql)
                        .map_err(|e| linli_sync_engine::Error::db("a test seed", e))
                })
                .await?)
        }
    }
}
