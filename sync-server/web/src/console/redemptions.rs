//! Redemptions at each hall's 爱心超市 as the console shows and exports
//! them: one line per redemption (the volunteer masked, the item, the
//! points, the kiosk, the receipt's number), for the volunteers page, the
//! CSV (`GET /admin/redemptions.csv`) and the XLSX sheet 积分兑换明细; and
//! each volunteer's standing (earned, redeemed, balance).
//!
//! A redemption names its volunteer by pseudonym only; the masked number
//! and short name come from the sealed contact of the volunteer's own
//! shifts in the hall (points are earned there, so every volunteer who
//! redeemed has some).

use std::{collections::HashMap, io::Write as _};

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use chrono::TimeZone as _;

use super::{PageError, Session, clock::HallClocks, download, export, requests::csv_field};
use crate::state::AppState;
use linli_sync_engine::{Error, credit, projection_tables::ShiftSpan};

/// One redemption as a staff member reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct RedemptionLine {
    /// The hall.
    pub hall: String,
    /// When, on the hall's clock.
    pub at: String,
    /// The volunteer: masked number and short name (empty once erased).
    pub volunteer: String,
    /// The item.
    pub item: String,
    /// Points spent.
    pub points: i64,
    /// Of them, what the kiosk lent beyond what it held (赊兑): flagged.
    pub owed: i64,
    /// The kiosk.
    pub kiosk: String,
    /// The number on the receipt.
    pub reference: String,
}

/// Every volunteer of a hall, by pseudonym: how they are shown, and the
/// points they earned there in all.
pub struct Volunteers {
    shown: HashMap<String, String>,
    earned: HashMap<String, i64>,
}

impl Volunteers {
    /// The volunteers of `hall`, from all its shifts.
    pub async fn of(state: &AppState, hall: &str) -> Result<Self, Error> {
        let spans = credit::credited_shifts(&state.core, hall).await?;
        Ok(Self::from_credited(state, &spans))
    }

    /// The volunteers of a hall's shifts, each with the points it earned
    /// (`credit::credited_shifts`).
    pub fn from_credited(state: &AppState, spans: &[(ShiftSpan, u64)]) -> Self {
        let mut v = Volunteers {
            shown: HashMap::new(),
            earned: HashMap::new(),
        };
        for (s, earned) in spans {
            if s.signed_out_ms.is_some() {
                *v.earned.entry(s.pseudonym.clone()).or_default() +=
                    i64::try_from(*earned).unwrap_or(i64::MAX);
            }
            if !v.shown.contains_key(&s.pseudonym) {
                let shown = state
                    .core
                    .residents
                    .shown(Some(&s.pseudonym), s.sealed.as_deref());
                let text = match (shown.masked, shown.name) {
                    (Some(m), Some(n)) => format!("{m} {n}"),
                    (Some(m), None) => m,
                    _ => String::new(),
                };
                v.shown.insert(s.pseudonym.clone(), text);
            }
        }
        v
    }

    /// How volunteer `pseudonym` is shown (empty when unknown or erased).
    pub fn shown(&self, pseudonym: Option<&str>) -> String {
        pseudonym
            .and_then(|p| self.shown.get(p))
            .cloned()
            .unwrap_or_default()
    }

    /// Points `pseudonym` earned in the hall, in all.
    pub fn earned(&self, pseudonym: &str) -> i64 {
        self.earned.get(pseudonym).copied().unwrap_or(0)
    }
}

/// The start of day `day` (`2026-11-23`) on `tz`'s clock, in ms.
fn day_start_ms(tz: chrono_tz::Tz, day: chrono::NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or(0, |t| t.timestamp_millis())
}

/// The first and last day of `month` (`2026-11`), if it is one.
pub fn month_days(month: &str) -> Option<(String, String)> {
    let first = linli_core::model::parse_day(&format!("{month}-01"))?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    Some((first.to_string(), next.pred_opt()?.to_string()))
}

/// `[from, to]` (days, inclusive) as ms on `tz`'s clock: from the start
/// of `from` to the start of the day after `to`.
pub fn days_as_ms(tz: chrono_tz::Tz, from: &str, to: &str) -> (i64, i64) {
    let parse = |d: &str| linli_core::model::parse_day(d);
    let start = parse(from).map_or(i64::MIN, |d| day_start_ms(tz, d));
    let end = parse(to)
        .and_then(|d| d.succ_opt())
        .map_or(i64::MAX, |d| day_start_ms(tz, d));
    (start, end)
}

/// The redemptions of `hall` between two days on its clock, oldest first.
pub async fn lines(
    state: &AppState,
    clocks: &HallClocks,
    hall: &str,
    from: &str,
    to: &str,
) -> Result<Vec<RedemptionLine>, Error> {
    let (from_ms, until_ms) = days_as_ms(clocks.tz(hall), from, to);
    let rows = state
        .core
        .projection
        .redemptions(hall, from_ms, until_ms)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let volunteers = Volunteers::of(state, hall).await?;
    Ok(as_lines(clocks, hall, &volunteers, rows))
}

/// Redemptions as lines, their volunteers shown as `volunteers` has them.
pub fn as_lines(
    clocks: &HallClocks,
    hall: &str,
    volunteers: &Volunteers,
    rows: Vec<linli_sync_engine::projection_tables::StoredRedemption>,
) -> Vec<RedemptionLine> {
    rows.into_iter()
        .map(|r| RedemptionLine {
            hall: hall.to_string(),
            at: clocks.show(hall, r.kiosk_at_ms),
            volunteer: volunteers.shown(r.pseudonym.as_deref()),
            reference: linli_sync_engine::projection_tables::request_reference(&r.record_id),
            item: r.item,
            points: r.points,
            owed: r.owed,
            kiosk: r.kiosk_id,
        })
        .collect()
}

/// The CSV's header row, the same columns as the XLSX sheet.
pub const HEADERS: [&str; 8] = [
    "服务中心",
    "时间",
    "志愿者（脱敏）",
    "物品",
    "积分",
    "终端",
    "兑换编号",
    "其中赊兑积分",
];

/// `GET /admin/redemptions.csv?hall=&from=&to=`: the redemptions of the
/// halls (one, or every hall of the session) between two days, as the
/// XLSX sheet 积分兑换明细 has them.
pub async fn csv(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<export::ExportQuery>,
) -> Result<Response, PageError> {
    let (halls, from, to) = export::scope(&s, &q)?;
    let clocks = HallClocks::load(&state).await?;
    let mut all = Vec::new();
    for h in &halls {
        all.extend(lines(&state, &clocks, h, &from, &to).await?);
    }
    s.audit(
        &state,
        "export_redemptions_csv",
        "redemptions",
        None,
        Some(format!("{from}..{to}")),
    )
    .await?;
    let body = download::streamed("redemptions.csv", move |w| {
        let io = |e: std::io::Error| Error::Io {
            context: "sending the export".into(),
            source: e,
        };
        w.write_all(format!("\u{feff}{}\r\n", HEADERS.join(",")).as_bytes())
            .map_err(io)?;
        for r in &all {
            write!(
                w,
                "{},{},{},{},{},{},{},{}\r\n",
                csv_field(&r.hall),
                csv_field(&r.at),
                csv_field(&r.volunteer),
                csv_field(&r.item),
                r.points,
                csv_field(&r.kiosk),
                csv_field(&r.reference),
                r.owed
            )
            .map_err(io)?;
        }
        Ok::<(), Error>(())
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"redemptions.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_taken_on_the_halls_clock() {
        let tz = chrono_tz::Asia::Shanghai;
        let (from, until) = days_as_ms(tz, "2026-11-23", "2026-11-23");
        // 2026-11-23 00:00 in Shanghai is 2026-11-22 16:00 UTC.
        assert_eq!(from, 1_795_363_200_000);
        assert_eq!(until - from, 86_400_000);
        let (first, last) = days_as_ms(tz, "0000-01-01", "9999-12-31");
        assert!(first < 0 && last > until, "everything");
        assert_eq!(
            month_days("2026-02"),
            Some(("2026-02-01".into(), "2026-02-28".into()))
        );
        assert_eq!(month_days("2026-13"), None);
    }
}
