//! Rebuilding a kiosk document without one resident (issue 12, erasure).
//!
//! Why a new document: Automerge keeps every change forever, so a record
//! once written with a resident's pseudonym, sealed contact and name box
//! keeps them in the document's history whatever is written over it. The
//! only way to have the document no longer hold them is a new document
//! made from the current state, with that resident's records carrying
//! [`ResidentRef::erased`] instead, and the old one deleted wherever it is
//! stored (the server and its hall's kiosks do that; the directory says
//! which document replaced which, see [`super::directory::retire`]).
//!
//! Every other record is copied as it is, with the server's answers to
//! requests, so person-time counts and statistics do not move. Records
//! that do not fit their schema are not copied: they were quarantined
//! when they arrived and never counted, and what they hold cannot be
//! checked for the resident.

use automerge::Automerge;

use super::{DocKind, header, ledger, requests};
use crate::{Error, Result, model::ResidentRef};

/// A document rebuilt without a resident.
pub struct Rebuilt {
    /// The new document's content.
    pub doc: Automerge,
    /// The document's kind.
    pub kind: DocKind,
    /// Its kiosk.
    pub kiosk_id: String,
    /// Its day or month.
    pub period: String,
    /// Records that named the resident and now carry the erased marker.
    pub erased: usize,
    /// Records copied unchanged.
    pub kept: usize,
    /// Records left out because they did not fit their schema.
    pub dropped: usize,
}

fn erase_ref(r: &mut ResidentRef, pseudonym: &str) -> bool {
    if r.pseudonym == pseudonym {
        *r = ResidentRef::erased();
        true
    } else {
        false
    }
}

/// Rebuild `old` (a ledger or request book) with the records of the
/// resident whose pseudonym is `pseudonym` erased. In the text of their
/// requests (free text from the phone page may hold anything) each of
/// `scrub` — their number, however it is spaced, and their names — is
/// replaced by `***`.
pub fn without_resident(old: &Automerge, pseudonym: &str, scrub: &[String]) -> Result<Rebuilt> {
    let h = header(old)?;
    let (Some(kiosk_id), Some(period)) = (h.kiosk_id.clone(), h.period.clone()) else {
        return Err(Error::Schema {
            doc: h.kind.name().into(),
            reason: "has no kiosk or period: not a kiosk's document".into(),
        });
    };
    let mut out = Rebuilt {
        doc: Automerge::new(),
        kind: h.kind,
        kiosk_id: kiosk_id.clone(),
        period: period.clone(),
        erased: 0,
        kept: 0,
        dropped: 0,
    };
    let mut count = |erased: bool| {
        if erased {
            out.erased += 1;
        } else {
            out.kept += 1;
        }
    };
    let mut dropped = 0;
    let doc = match h.kind {
        DocKind::Ledger => {
            let mut doc = ledger::new_ledger(&h.hall_id, &kiosk_id, &period)?;
            for id in ledger::checkin_ids(old)? {
                match ledger::checkin(old, &id) {
                    Ok(Some(mut c)) => {
                        let e = c.resident.as_mut().is_some_and(|r| erase_ref(r, pseudonym));
                        ledger::add_checkin(&mut doc, &id, &c)?;
                        count(e);
                    }
                    _ => dropped += 1,
                }
            }
            for id in super::record_keys(old, ledger::RATINGS)? {
                match ledger::rating(old, &id) {
                    Ok(Some(r)) => {
                        ledger::add_rating(&mut doc, &id, &r)?;
                        count(false);
                    }
                    _ => dropped += 1,
                }
            }
            for id in super::record_keys(old, ledger::SHIFTS)? {
                match ledger::shift_event(old, &id) {
                    Ok(Some(mut s)) => {
                        let e = erase_ref(&mut s.volunteer, pseudonym);
                        ledger::add_shift_event(&mut doc, &id, &s)?;
                        count(e);
                    }
                    _ => dropped += 1,
                }
            }
            doc
        }
        DocKind::RequestBook => {
            let mut doc = requests::new_request_book(&h.hall_id, &kiosk_id, &period)?;
            for id in requests::request_ids(old)? {
                match requests::request(old, &id) {
                    Ok(Some(mut r)) => {
                        let e = r.resident.as_mut().is_some_and(|x| erase_ref(x, pseudonym));
                        if e {
                            // Nobody is left to call back.
                            r.callback_consent = false;
                            r.text = scrub_text(&r.text, scrub);
                        }
                        requests::add_request(&mut doc, &id, &r)?;
                        if let Ok(Some(reply)) = requests::reply(old, &id) {
                            requests::set_reply(&mut doc, &id, &reply)?;
                        }
                        count(e);
                    }
                    _ => dropped += 1,
                }
            }
            doc
        }
        other => {
            return Err(Error::invalid(
                "erasure",
                format!("a {} document holds no residents", other.name()),
            ));
        }
    };
    out.doc = doc;
    out.dropped = dropped;
    Ok(out)
}

/// `text` with every occurrence of each of `needles` replaced by `***`:
/// a needle of digits matches with spaces, hyphens or dots between them
/// (as people write numbers), any other needle of two or more characters
/// matches as it is.
pub fn scrub_text(text: &str, needles: &[String]) -> String {
    let mut out = text.to_string();
    for needle in needles {
        if needle.chars().count() < 2 {
            continue;
        }
        out = if needle.chars().all(|c| c.is_ascii_digit()) {
            scrub_digits(&out, needle)
        } else {
            out.replace(needle.as_str(), "***")
        };
    }
    out
}

fn scrub_digits(text: &str, digits: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let want: Vec<char> = digits.chars().collect();
    let is_sep = |c: char| matches!(c, ' ' | '-' | '.' | '\u{3000}');
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        // Try a match starting here.
        let (mut j, mut k) = (i, 0);
        while j < chars.len() && k < want.len() {
            if chars[j] == want[k] {
                k += 1;
                j += 1;
            } else if k > 0 && is_sep(chars[j]) {
                j += 1;
            } else {
                break;
            }
        }
        if k == want.len() {
            out.push_str("***");
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use automerge::ReadDoc;

    use super::*;
    use crate::model::{CheckIn, Request, RequestReply, RequestStatus, ShiftEvent};

    fn person(p: char) -> ResidentRef {
        ResidentRef {
            pseudonym: p.to_string().repeat(64),
            sealed: "c2VhbGVk".into(),
            name_box: Some("Ym94".into()),
        }
    }

    fn checkin(r: Option<ResidentRef>, headcount: u32) -> CheckIn {
        CheckIn {
            activity_id: "act".into(),
            service: None,
            resident: r,
            headcount,
            companions: 1,
            kiosk_id: "k1".into(),
            at_ms: 1_790_000_000_000,
        }
    }

    /// Every string anywhere in a document's history.
    pub(in crate::docs) fn history_text(doc: &Automerge) -> String {
        let d = doc.clone();
        d.get_changes(&[])
            .iter()
            .map(|c| format!("{:?}", c.decode()))
            .collect::<Vec<_>>()
            .join("\n")
            + &format!("{:?}", d.save())
    }

    #[test]
    fn a_ledger_keeps_every_count_and_loses_the_resident_from_its_history() {
        let mut old = ledger::new_ledger("h1", "k1", "2026-11-24").expect("fixture");
        ledger::add_checkin(&mut old, "c1", &checkin(Some(person('a')), 1)).expect("fixture");
        ledger::add_checkin(&mut old, "c2", &checkin(Some(person('b')), 1)).expect("fixture");
        ledger::add_checkin(&mut old, "c3", &checkin(None, 4)).expect("fixture");
        ledger::add_checkin(&mut old, "c4", &checkin(Some(person('a')), 1)).expect("fixture");
        let shift = ShiftEvent {
            volunteer: person('a'),
            action: "sign_in".into(),
            shift_id: "s1".into(),
            activity_id: None,
            kiosk_id: "k1".into(),
            at_ms: 1_790_000_000_000,
        };
        ledger::add_shift_event(&mut old, "s1", &shift).expect("fixture");
        let a = "a".repeat(64);
        assert!(history_text(&old).contains(&a));

        let r = without_resident(&old, &a, &[]).expect("fixture");
        assert_eq!((r.erased, r.kept, r.dropped), (3, 2, 0));
        assert_eq!(
            (r.kind, r.kiosk_id.as_str(), r.period.as_str()),
            (DocKind::Ledger, "k1", "2026-11-24")
        );
        let new = r.doc;
        assert!(
            !history_text(&new).contains(&a),
            "no change of the new document names them"
        );
        assert!(
            !history_text(&new).contains("c2VhbGVk\", "),
            "nor their sealed contact"
        );
        let c1 = ledger::checkin(&new, "c1")
            .expect("fixture")
            .expect("fixture");
        assert!(c1.resident.expect("fixture").is_erased());
        assert_eq!(
            ledger::checkin(&new, "c2")
                .expect("fixture")
                .expect("fixture"),
            checkin(Some(person('b')), 1)
        );
        assert_eq!(
            ledger::checkin(&new, "c3")
                .expect("fixture")
                .expect("fixture")
                .headcount,
            4
        );
        assert!(
            ledger::shift_event(&new, "s1")
                .expect("fixture")
                .expect("fixture")
                .volunteer
                .is_erased()
        );
        assert_eq!(
            ledger::checkin_ids(&new).expect("fixture").len(),
            4,
            "every visit still counts"
        );
        assert_eq!(header(&new).expect("fixture").hall_id, "h1");
    }

    #[test]
    fn a_request_book_keeps_the_servers_answers_and_drops_the_callback() {
        let mut old = requests::new_request_book("h1", "k1", "2026-11").expect("fixture");
        let req = Request {
            category: "repair".into(),
            text: "楼道灯坏了".into(),
            resident: Some(person('a')),
            callback_consent: true,
            kiosk_id: "k1".into(),
            at_ms: 1_790_000_000_000,
        };
        requests::add_request(&mut old, "r1", &req).expect("fixture");
        let reply = RequestReply {
            status: RequestStatus::Resolved,
            reply: Some("已修好".into()),
            updated_at_ms: 1_790_000_100_000,
        };
        requests::set_reply(&mut old, "r1", &reply).expect("fixture");
        let r = without_resident(&old, &"a".repeat(64), &["王秀英".to_string()]).expect("fixture");
        assert_eq!(r.erased, 1);
        let got = requests::request(&r.doc, "r1")
            .expect("fixture")
            .expect("fixture");
        assert!(got.resident.expect("fixture").is_erased());
        assert!(!got.callback_consent);
        assert_eq!(got.text, "楼道灯坏了");
        assert_eq!(requests::reply(&r.doc, "r1").expect("fixture"), Some(reply));
    }

    #[test]
    fn a_record_that_does_not_fit_is_left_out_and_counted() {
        let mut old = ledger::new_ledger("h1", "k1", "2026-11-24").expect("fixture");
        ledger::add_checkin(&mut old, "c1", &checkin(None, 2)).expect("fixture");
        let obj = super::super::map_obj(&old, ledger::CHECKINS).expect("fixture");
        old.transact::<_, _, automerge::AutomergeError>(|tx| {
            use automerge::transaction::Transactable;
            tx.put(&obj, "junk", "13812345678")
        })
        .expect("fixture");
        let r = without_resident(&old, &"a".repeat(64), &[]).expect("fixture");
        assert_eq!((r.erased, r.kept, r.dropped), (0, 1, 1));
        assert!(
            r.doc
                .get(
                    super::super::map_obj(&r.doc, ledger::CHECKINS).expect("fixture"),
                    "junk"
                )
                .expect("fixture")
                .is_none()
        );
    }

    #[test]
    fn a_hall_document_is_refused() {
        let cal =
            super::super::calendar::new_calendar("h1", "Hall", "Asia/Shanghai").expect("fixture");
        assert!(without_resident(&cal, &"a".repeat(64), &[]).is_err());
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::scrub_text;

    #[test]
    fn a_number_however_spaced_and_a_name_leave_free_text() {
        let needles = [
            "13812345678".to_string(),
            "王秀英".to_string(),
            "王".to_string(),
        ];
        assert_eq!(
            scrub_text(
                "我是王秀英，电话138 1234 5678，或13812345678，或138-1234-5678。王先生",
                &needles
            ),
            "我是***，电话***，或***，或***。王先生"
        );
        assert_eq!(
            scrub_text("电梯坏了 1381234567", &needles),
            "电梯坏了 1381234567",
            "ten digits are another number"
        );
    }
}
