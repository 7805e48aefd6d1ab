//! Long lists read a page at a time. The console's lists (requests, the
//! audit log) and their CSV exports walk every matching row through the
//! store in pages, on a blocking thread, so that an export of any size
//! holds one page in memory and a CSV writer may block on a slow browser.
//! The screen keeps the first rows and counts the rest.

use linli_sync_engine::Error;
use tokio::runtime::Handle;

/// Rows read from the store at a time.
pub const PAGE: u32 = 2_000;

/// The first `keep` rows `walk` gives, and how many it gives in all.
/// `walk` runs on a blocking thread and reads its pages through the
/// runtime it is handed.
pub async fn screenful<R: Send + 'static>(
    what: &'static str,
    keep: usize,
    walk: impl FnOnce(&Handle, &mut dyn FnMut(R) -> Result<bool, Error>) -> Result<(), Error>
    + Send
    + 'static,
) -> Result<(Vec<R>, usize), Error> {
    let rt = Handle::current();
    tokio::task::spawn_blocking(move || {
        let (mut rows, mut total) = (Vec::new(), 0usize);
        walk(&rt, &mut |r| {
            total += 1;
            if rows.len() < keep {
                rows.push(r);
            }
            Ok(true)
        })?;
        Ok((rows, total))
    })
    .await
    .map_err(|e| Error::Io {
        context: what.into(),
        source: std::io::Error::other(e.to_string()),
    })?
}
