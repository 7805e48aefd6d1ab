//! The XLSX export: one workbook, one sheet per table, Chinese headers —
//! 签到表 (check-ins, walk-in visits among them with their service),
//! 服务人次月报 (monthly person-times by hall and activity kind, walk-ins
//! as 到访办事), 诉求台账 (requests), 志愿时长积分明细 (volunteer shifts
//! with hours and points), 积分兑换明细 (redemptions at the 爱心超市,
//! the same rows as `GET /admin/redemptions.csv`) — for the halls and
//! dates the screen's filters name. Rows come from the same projection the pages read.
//!
//! Large exports: sheets are written in constant-memory mode (rows go to a
//! temporary file as they are written) on a separate read-only connection,
//! the workbook is saved to a temporary file and streamed from there, so
//! 100,000 rows cost neither the server's memory nor other users' waits.
//! Times are shown on each hall's clock.
//!
//! A sheet holds at most 1,048,576 rows ([`SHEET_ROWS`]); a longer table
//! continues on sheets named "签到表 (2)", "签到表 (3)", … each with its
//! header row again, so two million check-ins still export whole.
//!
//! Every text cell goes through [`super::cells::text`], so a resident's
//! text cannot become a formula in a staff member's spreadsheet.

use std::{collections::HashMap, io::Seek as _};

use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use linli_core::{model::WALK_IN_KIND, points_rules::MAX_SHIFT_MS};

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde::Deserialize;

use super::{
    Lang, PageError, Session, calendar::kind_code_label, cells, clock::HallClocks, download,
    listing::PAGE,
};
use crate::state::AppState;
use linli_sync_engine::{
    Error, credit,
    projection_tables::{CheckinCursor, RequestCursor, RequestFilter},
    provision,
};

/// Sheet names, in order.
pub const SHEETS: [&str; 5] = [
    "签到表",
    "服务人次月报",
    "诉求台账",
    "志愿时长积分明细",
    "积分兑换明细",
];

/// The filters.
#[derive(Deserialize, Default)]
pub struct ExportQuery {
    hall: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn xlsx_err(e: XlsxError) -> Error {
    Error::BadRequest(format!("building the workbook: {e}"))
}

fn date(field: &str, v: &Option<String>, default: &str) -> Result<String, Error> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default.to_string()),
        Some(s) => linli_core::model::parse_day(s)
            .map(|d| d.to_string())
            .ok_or_else(|| Error::BadRequest(format!("{field} must be a date like 2026-11-23"))),
    }
}

/// Rows an XLSX sheet holds, its header row included.
pub const SHEET_ROWS: u32 = 1_048_576;

/// One table of the workbook, on as many sheets as its rows need.
struct Table {
    name: &'static str,
    headers: &'static [&'static str],
    rows_per_sheet: u32,
    sheet: usize,
    part: u32,
    next_row: u32,
}

impl Table {
    /// Start the table on a new sheet.
    fn new(
        wb: &mut Workbook,
        name: &'static str,
        headers: &'static [&'static str],
        rows_per_sheet: u32,
    ) -> Result<Table, Error> {
        let mut t = Table {
            name,
            headers,
            rows_per_sheet: rows_per_sheet.max(2),
            sheet: 0,
            part: 0,
            next_row: 0,
        };
        t.add_sheet(wb)?;
        Ok(t)
    }

    fn add_sheet(&mut self, wb: &mut Workbook) -> Result<(), Error> {
        self.part += 1;
        let title = if self.part == 1 {
            self.name.to_string()
        } else {
            format!("{} ({})", self.name, self.part)
        };
        let bold = Format::new().set_bold();
        let ws = wb
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_err)?
            .set_name(&title)
            .map_err(xlsx_err)?;
        for (i, h) in self.headers.iter().enumerate() {
            let col = u16::try_from(i).map_err(|_| Error::BadRequest("too many columns".into()))?;
            ws.write_with_format(0, col, *h, &bold).map_err(xlsx_err)?;
        }
        self.sheet = wb.worksheets().len() - 1;
        self.next_row = 1;
        Ok(())
    }

    /// The sheet and row number of the next record.
    fn row<'w>(&mut self, wb: &'w mut Workbook) -> Result<(&'w mut Worksheet, u32), Error> {
        if self.next_row >= self.rows_per_sheet {
            self.add_sheet(wb)?;
        }
        let row = self.next_row;
        self.next_row += 1;
        Ok((wb.worksheet_from_index(self.sheet).map_err(xlsx_err)?, row))
    }
}

/// Build the workbook into a temporary file (deleted when dropped).
pub async fn workbook(
    state: &AppState,
    halls: Vec<String>,
    from: String,
    to: String,
) -> Result<std::fs::File, Error> {
    workbook_split(state, halls, from, to, SHEET_ROWS).await
}

/// [`workbook`] with at most `rows_per_sheet` rows a sheet (header
/// included), so tests can see a table continue without a million rows.
pub async fn workbook_split(
    state: &AppState,
    halls: Vec<String>,
    from: String,
    to: String,
    rows_per_sheet: u32,
) -> Result<std::fs::File, Error> {
    let mut info: HashMap<String, (String, String)> = HashMap::new();
    let mut services: HashMap<(String, String), String> = HashMap::new();
    let clocks = HallClocks::load(state).await?;
    for h in &halls {
        for (id, a) in provision::activities(&state.core, h).await? {
            info.insert(id, (a.kind.clone(), a.title.clone()));
        }
        for (id, service) in provision::services(&state.core, h).await? {
            services.insert((h.clone(), id), service.name);
        }
    }
    // Redemptions are few beside check-ins: read before the workbook.
    let mut redeemed = Vec::new();
    for h in &halls {
        redeemed.extend(super::redemptions::lines(state, &clocks, h, &from, &to).await?);
    }
    let core = state.core.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let store = core.projection.as_ref();
        let mut wb = Workbook::new();
        let bold = Format::new().set_bold();

        let mut table = Table::new(
            &mut wb,
            SHEETS[0],
            &[
                "日期",
                "服务中心",
                "终端",
                "活动或服务项目",
                "类别",
                "手机（脱敏）",
                "称呼",
                "人数",
                "同行",
                "终端时间",
                "接收时间",
            ],
            rows_per_sheet,
        )?;
        let mut monthly: HashMap<(String, String, String), i64> = HashMap::new();
        for h in &halls {
            let mut cursor: Option<CheckinCursor> = None;
            loop {
                let page =
                    rt.block_on(store.checkins_page(h, &from, &to, cursor.as_ref(), PAGE))?;
                let full = page.len() == PAGE as usize;
                cursor = page
                    .last()
                    .map(|r| (r.date.clone(), r.kiosk_at_ms, r.id.clone()));
                for r in page {
                    let (d, hall, kiosk, act, pseudonym, sealed, head, comp, at, rec, service) = (
                        r.date,
                        h.clone(),
                        r.kiosk_id,
                        r.activity_id,
                        r.pseudonym,
                        r.sealed,
                        i64::from(r.headcount),
                        i64::from(r.companions),
                        r.kiosk_at_ms,
                        r.received_ms,
                        r.service,
                    );
                    let shown = core
                        .residents
                        .shown(pseudonym.as_deref(), sealed.as_deref());
                    let (phone, name) = (shown.masked, shown.name);
                    let (kind, title) = match service {
                        Some(service) => {
                            let name = services.get(&(hall.clone(), service.clone())).cloned();
                            (WALK_IN_KIND.to_string(), name.unwrap_or(service))
                        }
                        None => info
                            .get(&act)
                            .cloned()
                            .unwrap_or_else(|| ("other".into(), act.clone())),
                    };
                    let (ws, row) = table.row(&mut wb)?;
                    ws.write(row, 0, cells::text(d.as_str()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 1, cells::text(hall.as_str()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 2, cells::text(kiosk.as_str()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 3, cells::text(title.as_str()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 4, cells::text(kind_code_label(Lang::Zh, &kind)))
                        .map_err(xlsx_err)?;
                    ws.write(row, 5, cells::text(phone.unwrap_or_default()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 6, cells::text(name.unwrap_or_default()))
                        .map_err(xlsx_err)?;
                    ws.write(row, 7, head as f64).map_err(xlsx_err)?;
                    ws.write(row, 8, comp as f64).map_err(xlsx_err)?;
                    ws.write(row, 9, cells::text(clocks.show(&hall, at)))
                        .map_err(xlsx_err)?;
                    ws.write(row, 10, cells::text(clocks.show(&hall, rec)))
                        .map_err(xlsx_err)?;
                    *monthly.entry((d[..7].to_string(), hall, kind)).or_default() += head + comp;
                }
                if !full {
                    break;
                }
            }
        }

        let ws = wb
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_err)?
            .set_name(SHEETS[1])
            .map_err(xlsx_err)?;
        for (i, h) in ["月份", "服务中心", "活动类别", "服务人次"]
            .iter()
            .enumerate()
        {
            ws.write_with_format(0, i as u16, *h, &bold)
                .map_err(xlsx_err)?;
        }
        let mut monthly: Vec<_> = monthly.into_iter().collect();
        monthly.sort();
        for (i, ((m, hall, kind), n)) in monthly.iter().enumerate() {
            let r = i as u32 + 1;
            ws.write(r, 0, cells::text(m.as_str())).map_err(xlsx_err)?;
            ws.write(r, 1, cells::text(hall.as_str()))
                .map_err(xlsx_err)?;
            ws.write(r, 2, cells::text(kind_code_label(Lang::Zh, kind)))
                .map_err(xlsx_err)?;
            ws.write(r, 3, *n as f64).map_err(xlsx_err)?;
        }

        let mut table = Table::new(
            &mut wb,
            SHEETS[2],
            &[
                "编号",
                "服务中心",
                "类别",
                "内容",
                "手机（脱敏）",
                "需回电",
                "状态",
                "回复",
                "提交时间",
            ],
            rows_per_sheet,
        )?;
        for h in &halls {
            let filter = RequestFilter {
                hall: h.clone(),
                status: None,
                category: None,
                made_until_ms: i64::MAX,
                oldest_first: true,
            };
            let mut cursor: Option<RequestCursor> = None;
            loop {
                let page = rt.block_on(store.requests_page(&filter, cursor.as_ref(), PAGE))?;
                let full = page.len() == PAGE as usize;
                cursor = page.last().map(|r| (r.kiosk_at_ms, r.id.clone()));
                for r in page {
                    let (reference, hall, cat, text, pseudonym, cb, status, reply, at, sealed) = (
                        r.reference,
                        r.hall_id,
                        r.category,
                        r.text,
                        r.pseudonym,
                        r.callback_consent,
                        r.status,
                        r.reply,
                        r.kiosk_at_ms,
                        r.sealed,
                    );
                    // The masked number only: exports never carry a whole one.
                    let phone = core
                        .residents
                        .shown(pseudonym.as_deref(), sealed.as_deref())
                        .masked;
                    let day = clocks.show(&hall, at);
                    if day
                        .get(..10)
                        .is_some_and(|d| d < from.as_str() || d > to.as_str())
                    {
                        continue;
                    }
                    let (ws, row) = table.row(&mut wb)?;
                    for (col, v) in [
                        reference,
                        hall,
                        cat,
                        text,
                        phone.unwrap_or_default(),
                        if cb { "是".into() } else { "否".into() },
                        status,
                        reply.unwrap_or_default(),
                        day,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        ws.write(row, col as u16, cells::text(v))
                            .map_err(xlsx_err)?;
                    }
                }
                if !full {
                    break;
                }
            }
        }

        let mut table = Table::new(
            &mut wb,
            SHEETS[3],
            &[
                "服务中心",
                "志愿者（脱敏）",
                "上岗",
                "签退",
                "时长（小时）",
                "积分",
            ],
            rows_per_sheet,
        )?;
        for h in &halls {
            for (span, earned) in rt.block_on(credit::credited_in(&core, h, &from, &to))? {
                let (hall, pseudonym, start, end, sealed) = (
                    h.clone(),
                    span.pseudonym,
                    span.signed_in_ms,
                    span.signed_out_ms,
                    span.sealed,
                );
                let phone = core
                    .residents
                    .shown(Some(&pseudonym), sealed.as_deref())
                    .masked
                    .unwrap_or_default();
                let (ws, row) = table.row(&mut wb)?;
                ws.write(row, 0, cells::text(hall.as_str()))
                    .map_err(xlsx_err)?;
                ws.write(row, 1, cells::text(phone.as_str()))
                    .map_err(xlsx_err)?;
                ws.write(row, 2, cells::text(clocks.show(&hall, start)))
                    .map_err(xlsx_err)?;
                ws.write(
                    row,
                    3,
                    cells::text(end.map(|e| clocks.show(&hall, e)).unwrap_or_default()),
                )
                .map_err(xlsx_err)?;
                let hours = end.map_or(0.0, |e| {
                    (e - start).clamp(0, MAX_SHIFT_MS) as f64 / 3_600_000.0
                });
                ws.write(row, 4, (hours * 100.0).round() / 100.0)
                    .map_err(xlsx_err)?;
                ws.write(row, 5, earned as f64).map_err(xlsx_err)?;
            }
        }
        let mut table = Table::new(
            &mut wb,
            SHEETS[4],
            &super::redemptions::HEADERS,
            rows_per_sheet,
        )?;
        for r in &redeemed {
            let (ws, row) = table.row(&mut wb)?;
            for (col, text) in [
                (0, &r.hall),
                (1, &r.at),
                (2, &r.volunteer),
                (3, &r.item),
                (5, &r.kiosk),
                (6, &r.reference),
            ] {
                ws.write(row, col, cells::text(text.as_str()))
                    .map_err(xlsx_err)?;
            }
            ws.write(row, 4, r.points as f64).map_err(xlsx_err)?;
            ws.write(row, 7, r.owed as f64).map_err(xlsx_err)?;
        }
        let mut file = tempfile::tempfile().map_err(|e| Error::Io {
            context: "creating the export file".into(),
            source: e,
        })?;
        wb.save_to_writer(&mut file).map_err(xlsx_err)?;
        file.rewind().map_err(|e| Error::Io {
            context: "reading the export file".into(),
            source: e,
        })?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::Io {
        context: "export worker".into(),
        source: std::io::Error::other(e.to_string()),
    })?
}

/// The halls (the one asked for, which must be the session's, or all of
/// the session's) and the days (inclusive) an export covers.
pub fn scope(s: &Session, q: &ExportQuery) -> Result<(Vec<String>, String, String), Error> {
    let hall = q.hall.clone().filter(|h| !h.is_empty());
    if let Some(h) = &hall {
        s.require_hall(h)?;
    }
    let from = date("from", &q.from, "0000-01-01")?;
    let to = date("to", &q.to, "9999-12-31")?;
    Ok((hall.map_or_else(|| s.halls.clone(), |h| vec![h]), from, to))
}

/// `GET /admin/export.xlsx`.
pub async fn xlsx(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let (halls, from, to) = scope(&s, &q)?;
    let mut file = workbook(&state, halls, from.clone(), to.clone()).await?;
    let len = file.metadata().map(|m| m.len()).unwrap_or_default();
    s.audit(
        &state,
        "export_xlsx",
        "workbook",
        None,
        Some(format!("{from}..{to}")),
    )
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"linli-export.xlsx\"",
            ),
            (header::CONTENT_LENGTH, &len.to_string()),
        ],
        download::streamed("xlsx", move |w| std::io::copy(&mut file, w).map(|_| ())),
    )
        .into_response())
}
