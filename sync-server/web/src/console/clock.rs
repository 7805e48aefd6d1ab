//! Times as the console and its exports show them: on each hall's own
//! clock (a district may span time zones; the server's is irrelevant).

use std::collections::HashMap;

use crate::state::AppState;
use linli_sync_engine::Error;

/// Every hall's time zone.
#[derive(Clone, Debug, Default)]
pub struct HallClocks(HashMap<String, chrono_tz::Tz>);

impl HallClocks {
    /// The time zones of every hall.
    pub async fn load(state: &AppState) -> Result<Self, Error> {
        let halls = state.core.tables.halls().await?;
        Ok(Self(
            halls
                .iter()
                .map(|h| (h.id.clone(), h.time_zone()))
                .collect(),
        ))
    }

    /// `hall`'s time zone (China Standard Time for a hall it does not
    /// know).
    pub fn tz(&self, hall: &str) -> chrono_tz::Tz {
        self.0
            .get(hall)
            .copied()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// `ms` on `hall`'s clock, `2026-11-23 09:30`.
    pub fn show(&self, hall: &str, ms: i64) -> String {
        let tz = self.tz(hall);
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }
}
