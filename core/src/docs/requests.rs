//! A kiosk's request book: one month of requests and suggestions from
//! that kiosk. The kiosk writes each request once; the server adds
//! `status`, `reply` and `updated_at_ms` into the same record, and those
//! sync back so the resident sees the reply under "My requests".

use automerge::{Automerge, ReadDoc, transaction::Transactable};

use super::{DocKind, map_obj, new_doc, put_record, read_i64, read_record, read_str, record_keys};
use crate::{
    Error, Result,
    model::{Request, RequestReply, RequestStatus},
};

/// Map of requests.
pub const REQUESTS: &str = "requests";

/// A new request book for `kiosk_id` in month `month` (`2026-11`).
pub fn new_request_book(hall_id: &str, kiosk_id: &str, month: &str) -> Result<Automerge> {
    new_doc(
        DocKind::RequestBook,
        hall_id,
        Some(kiosk_id),
        Some(month),
        &[REQUESTS],
        &[],
    )
}

/// Add a request (one change).
pub fn add_request(doc: &mut Automerge, id: &str, r: &Request) -> Result<()> {
    r.validate()?;
    put_record(doc, REQUESTS, id, r)
}

/// One request as the kiosk wrote it.
pub fn request(doc: &Automerge, id: &str) -> Result<Option<Request>> {
    read_record(doc, REQUESTS, id)
}

/// Ids of every request.
pub fn request_ids(doc: &Automerge) -> Result<Vec<String>> {
    record_keys(doc, REQUESTS)
}

/// The server's status and reply for a request; `None` while untouched
/// (the request then counts as received).
pub fn reply(doc: &Automerge, id: &str) -> Result<Option<RequestReply>> {
    let map = map_obj(doc, REQUESTS)?;
    let Some((_, obj)) = doc.get(&map, id)? else {
        return Ok(None);
    };
    let Some(status) = read_str(doc, &obj, "status")? else {
        return Ok(None);
    };
    Ok(Some(RequestReply {
        status: RequestStatus::from_code(&status)?,
        reply: read_str(doc, &obj, "reply")?,
        updated_at_ms: read_i64(doc, &obj, "updated_at_ms")?.unwrap_or(0),
    }))
}

/// Server side: set a request's status and reply (one change).
pub fn set_reply(doc: &mut Automerge, id: &str, reply: &RequestReply) -> Result<()> {
    reply.validate()?;
    let map = map_obj(doc, REQUESTS)?;
    let Some((_, obj)) = doc.get(&map, id)? else {
        return Err(Error::invalid(
            "request",
            format!("no request {id} in this book"),
        ));
    };
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(&obj, "status", reply.status.code())?;
        match &reply.reply {
            Some(text) => tx.put(&obj, "reply", text.as_str())?,
            None => {
                if tx.get(&obj, "reply")?.is_some() {
                    tx.delete(&obj, "reply")?;
                }
            }
        }
        tx.put(&obj, "updated_at_ms", reply.updated_at_ms)?;
        Ok(())
    })
    .map_err(|f| f.error)?;
    Ok(())
}
