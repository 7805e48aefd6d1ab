//! Converting a kiosk document of schema version 1 (residents as a keyed
//! phone hash beside the masked number and the name in the clear, which a
//! copy could turn back into numbers) into one of this version, with each
//! resident as [`ResidentRef`] (issue 12, the upgrade).
//!
//! Like erasure ([`super::erase`]) this makes a new document from the
//! current state: the old one keeps the old form in its history, so it is
//! replaced, never edited. The conversion of each resident is the
//! caller's (the server recovers the number with the old key and makes
//! the new pseudonym, sealed contact and name box); records are otherwise
//! copied as they are, with the server's answers to requests.

use automerge::Automerge;
use serde::Deserialize;
use serde_json::Value;

use super::{DocKind, erase::Rebuilt, header, ledger, requests};
use crate::{
    Error, Result,
    model::{CheckIn, Rating, Request, RequestReply, RequestStatus, ResidentRef, ShiftEvent},
    phone::PhoneNumber,
};

/// A resident as schema version 1 wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct OldResident {
    /// HMAC-SHA256 of the number under the deployment's old phone key (hex).
    pub phone_hash: String,
    /// `138****5678`.
    pub phone_masked: String,
    /// The short name, in the clear.
    #[serde(default)]
    pub name: Option<String>,
}

/// The number behind an old resident: the masked form leaves four digits
/// open and the old phone key (HMAC-SHA256) tells which — the weakness
/// that made the old form reversible, used once more to convert it.
pub fn recover_number(old_key: &[u8], old: &OldResident) -> Option<PhoneNumber> {
    use hmac::{Hmac, Mac};
    if !crate::phone::is_masked(&old.phone_masked) {
        return None;
    }
    let want = hex::decode(&old.phone_hash).ok()?;
    let (head, tail) = (&old.phone_masked[..3], &old.phone_masked[7..]);
    (0..10_000).find_map(|i| {
        let digits = format!("{head}{i:04}{tail}");
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(old_key).ok()?;
        mac.update(digits.as_bytes());
        mac.verify_slice(&want)
            .ok()
            .and_then(|()| PhoneNumber::parse(&digits).ok())
    })
}

/// True when a record's resident field is of the old form.
fn is_old(v: &Value) -> bool {
    v.get("phone_hash").is_some()
}

/// Every old-form resident `doc` holds (empty for a document of this
/// version, or one that holds no residents).
pub fn old_residents(doc: &Automerge) -> Result<Vec<OldResident>> {
    let json = to_json(doc)?;
    let mut out = Vec::new();
    for map in [ledger::CHECKINS, ledger::SHIFTS, requests::REQUESTS] {
        let Some(records) = json.get(map).and_then(Value::as_object) else {
            continue;
        };
        for rec in records.values() {
            for field in ["resident", "volunteer"] {
                if let Some(r) = rec.get(field).filter(|r| is_old(r))
                    && let Ok(old) = serde_json::from_value::<OldResident>(r.clone())
                {
                    out.push(old);
                }
            }
        }
    }
    Ok(out)
}

fn to_json(doc: &Automerge) -> Result<Value> {
    serde_json::to_value(automerge::AutoSerde::from(doc))
        .map_err(|e| Error::invalid("document", e.to_string()))
}

/// Rebuild `old` with every old-form resident replaced by what `convert`
/// makes of them. `Rebuilt::erased` counts the residents converted.
pub fn from_v1(
    old: &Automerge,
    mut convert: impl FnMut(&OldResident) -> Result<ResidentRef>,
) -> Result<Rebuilt> {
    let h = header(old)?;
    let (Some(kiosk_id), Some(period)) = (h.kiosk_id.clone(), h.period.clone()) else {
        return Err(Error::Schema {
            doc: h.kind.name().into(),
            reason: "has no kiosk or period: not a kiosk's document".into(),
        });
    };
    let json = to_json(old)?;
    let mut converted = 0;
    let mut dropped = 0;
    let mut kept = 0;
    let mut fix = |rec: &mut Value| -> Result<()> {
        for field in ["resident", "volunteer"] {
            if let Some(r) = rec.get_mut(field).filter(|r| is_old(r)) {
                let o: OldResident = serde_json::from_value(r.clone())
                    .map_err(|e| Error::invalid("old resident", e.to_string()))?;
                *r = serde_json::to_value(convert(&o)?)
                    .map_err(|e| Error::invalid("resident", e.to_string()))?;
                converted += 1;
            }
        }
        Ok(())
    };
    let records = |map: &str| -> Vec<(String, Value)> {
        json.get(map)
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let doc = match h.kind {
        DocKind::Ledger => {
            let mut doc = ledger::new_ledger(&h.hall_id, &kiosk_id, &period)?;
            for (id, mut rec) in records(ledger::CHECKINS) {
                fix(&mut rec)?;
                match serde_json::from_value::<CheckIn>(rec) {
                    Ok(c) if ledger::add_checkin(&mut doc, &id, &c).is_ok() => kept += 1,
                    _ => dropped += 1,
                }
            }
            for (id, rec) in records(ledger::RATINGS) {
                match serde_json::from_value::<Rating>(rec) {
                    Ok(r) if ledger::add_rating(&mut doc, &id, &r).is_ok() => kept += 1,
                    _ => dropped += 1,
                }
            }
            for (id, mut rec) in records(ledger::SHIFTS) {
                fix(&mut rec)?;
                match serde_json::from_value::<ShiftEvent>(rec) {
                    Ok(s) if ledger::add_shift_event(&mut doc, &id, &s).is_ok() => kept += 1,
                    _ => dropped += 1,
                }
            }
            doc
        }
        DocKind::RequestBook => {
            let mut doc = requests::new_request_book(&h.hall_id, &kiosk_id, &period)?;
            for (id, mut rec) in records(requests::REQUESTS) {
                fix(&mut rec)?;
                let reply = reply_of(&rec);
                match serde_json::from_value::<Request>(rec) {
                    Ok(r) if requests::add_request(&mut doc, &id, &r).is_ok() => {
                        if let Some(reply) = reply {
                            requests::set_reply(&mut doc, &id, &reply)?;
                        }
                        kept += 1;
                    }
                    _ => dropped += 1,
                }
            }
            doc
        }
        other => {
            return Err(Error::invalid(
                "upgrade",
                format!("a {} document holds no residents", other.name()),
            ));
        }
    };
    Ok(Rebuilt {
        doc,
        kind: h.kind,
        kiosk_id,
        period,
        erased: converted,
        kept,
        dropped,
    })
}

/// The server's answer written into a request record, if any.
fn reply_of(rec: &Value) -> Option<RequestReply> {
    let status = RequestStatus::from_code(rec.get("status")?.as_str()?).ok()?;
    Some(RequestReply {
        status,
        reply: rec.get("reply").and_then(Value::as_str).map(str::to_string),
        updated_at_ms: rec
            .get("updated_at_ms")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use automerge::{ObjType, ROOT, transaction::Transactable};

    use super::*;

    /// A version-1 ledger as Linli 0.1 wrote it.
    pub(crate) fn v1_ledger() -> Automerge {
        let mut d = Automerge::new();
        d.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, "schema", "linli.ledger")?;
            tx.put(ROOT, "version", 1_u64)?;
            tx.put(ROOT, "hall_id", "h1")?;
            tx.put(ROOT, "kiosk_id", "k1")?;
            tx.put(ROOT, "period", "2026-11-24")?;
            let checkins = tx.put_object(ROOT, "checkins", ObjType::Map)?;
            tx.put_object(ROOT, "ratings", ObjType::Map)?;
            tx.put_object(ROOT, "shifts", ObjType::Map)?;
            let c = tx.put_object(&checkins, "c1", ObjType::Map)?;
            tx.put(&c, "activity_id", "act")?;
            tx.put(&c, "headcount", 1_u64)?;
            tx.put(&c, "companions", 0_u64)?;
            tx.put(&c, "kiosk_id", "k1")?;
            tx.put(&c, "at_ms", 1_790_000_000_000_i64)?;
            let r = tx.put_object(&c, "resident", ObjType::Map)?;
            tx.put(&r, "phone_hash", "ab".repeat(32))?;
            tx.put(&r, "phone_masked", "138****5678")?;
            tx.put(&r, "name", "王秀英")?;
            let a = tx.put_object(&checkins, "c2", ObjType::Map)?;
            tx.put(&a, "activity_id", "act")?;
            tx.put(&a, "headcount", 3_u64)?;
            tx.put(&a, "companions", 0_u64)?;
            tx.put(&a, "kiosk_id", "k1")?;
            tx.put(&a, "at_ms", 1_790_000_000_000_i64)?;
            Ok(())
        })
        .expect("v1 ledger");
        d
    }

    #[test]
    fn the_old_key_and_the_masked_digits_give_the_number_back() {
        use hmac::{Hmac, Mac};
        let key = b"0123456789abcdef0123456789abcdef".to_vec();
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("key");
        mac.update(b"13812345678");
        let old = OldResident {
            phone_hash: hex::encode(mac.finalize().into_bytes()),
            phone_masked: "138****5678".into(),
            name: None,
        };
        assert_eq!(
            recover_number(&key, &old).map(|p| p.expose_digits().to_string()),
            Some("13812345678".into())
        );
        let damaged = OldResident {
            phone_masked: "138****5679".into(),
            ..old.clone()
        };
        assert!(
            recover_number(&key, &damaged).is_none(),
            "another number's digits"
        );
        let foreign = OldResident {
            phone_masked: "not a number".into(),
            ..old
        };
        assert!(recover_number(&key, &foreign).is_none());
    }

    #[test]
    fn a_version_1_ledger_becomes_one_of_this_version_with_nothing_of_the_old_form() {
        let old = v1_ledger();
        let found = old_residents(&old).expect("read");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].phone_masked, "138****5678");
        assert_eq!(found[0].name.as_deref(), Some("王秀英"));
        let r = from_v1(&old, |o| {
            assert_eq!(o.phone_hash, "ab".repeat(32));
            Ok(ResidentRef {
                pseudonym: "c".repeat(64),
                sealed: "c2VhbGVk".into(),
                name_box: Some("Ym94".into()),
            })
        })
        .expect("converted");
        assert_eq!((r.erased, r.kept, r.dropped), (1, 2, 0));
        let c1 = ledger::checkin(&r.doc, "c1").expect("read").expect("there");
        assert_eq!(c1.resident.expect("named").pseudonym, "c".repeat(64));
        assert_eq!(
            ledger::checkin(&r.doc, "c2")
                .expect("read")
                .expect("there")
                .headcount,
            3
        );
        assert_eq!(
            header(&r.doc).expect("header").version,
            super::super::SCHEMA_VERSION
        );
        let d = r.doc.clone();
        let text = format!(
            "{:?}{:?}",
            d.get_changes(&[])
                .iter()
                .map(|c| c.decode())
                .collect::<Vec<_>>(),
            d.save()
        );
        for gone in ["138****5678", "王秀英", &"ab".repeat(32)] {
            assert!(!text.contains(gone), "{gone} left in the new document");
        }
        assert!(old_residents(&r.doc).expect("read").is_empty());
    }
}
