//! The hall calendar: hall settings, activities and the walk-in services
//! the hall offers. Written by the server (the admin console publishes
//! it); kiosks have it read-only.
//!
//! Calendars made before walk-ins existed have no `services` map; the
//! server adds the standard services to them once (`has_services`
//! tells such a calendar from one whose hall removed every service).

use automerge::{Automerge, ROOT, ReadDoc, transaction::Transactable};

use super::{DocKind, new_doc, put_record, read_record, read_str, record_keys};
use crate::{
    Error, Result,
    model::{Activity, MAX_SERVICES, WalkInService},
};

const ACTIVITIES: &str = "activities";
const SERVICES: &str = "services";

/// A new calendar for a hall: no activities, no services yet.
pub fn new_calendar(hall_id: &str, hall_name: &str, tz: &str) -> Result<Automerge> {
    new_doc(
        DocKind::Calendar,
        hall_id,
        None,
        None,
        &[ACTIVITIES, SERVICES],
        &[("hall_name", hall_name), ("tz", tz)],
    )
}

/// True when the calendar has a services map (even an empty one).
pub fn has_services(doc: &Automerge) -> Result<bool> {
    Ok(doc.get(ROOT, SERVICES)?.is_some())
}

/// Add or replace a walk-in service (one change; the map is created in
/// the same change on a calendar that predates services). Validates
/// first, and refuses a new service beyond [`MAX_SERVICES`].
pub fn put_service(doc: &mut Automerge, id: &str, service: &WalkInService) -> Result<()> {
    service.validate()?;
    if !has_services(doc)? {
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put_object(ROOT, SERVICES, automerge::ObjType::Map)
                .map(|_| ())
        })
        .map_err(|f| f.error)?;
    }
    let keys = record_keys(doc, SERVICES)?;
    if !keys.iter().any(|k| k == id) && keys.len() >= MAX_SERVICES {
        return Err(Error::invalid(
            "services",
            format!("a hall lists at most {MAX_SERVICES} walk-in services"),
        ));
    }
    put_record(doc, SERVICES, id, service)
}

/// One walk-in service.
pub fn service(doc: &Automerge, id: &str) -> Result<Option<WalkInService>> {
    if !has_services(doc)? {
        return Ok(None);
    }
    read_record(doc, SERVICES, id)
}

/// Every walk-in service that reads cleanly (retired ones too), in the
/// kiosk's order; none on a calendar without services.
pub fn services(doc: &Automerge) -> Result<Vec<(String, WalkInService)>> {
    if !has_services(doc)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for id in record_keys(doc, SERVICES)? {
        if let Ok(Some(s)) = read_record::<WalkInService>(doc, SERVICES, &id) {
            out.push((id, s));
        }
    }
    out.sort_by_key(|(id, s)| (s.position, id.clone()));
    Ok(out)
}

/// The hall's display name.
pub fn hall_name(doc: &Automerge) -> Result<Option<String>> {
    read_str(doc, &ROOT, "hall_name")
}

/// The hall's IANA time zone (default Asia/Shanghai).
pub fn time_zone(doc: &Automerge) -> Result<String> {
    Ok(read_str(doc, &ROOT, "tz")?.unwrap_or_else(|| "Asia/Shanghai".to_string()))
}

/// Rename the hall.
pub fn set_hall_name(doc: &mut Automerge, name: &str) -> Result<()> {
    doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "hall_name", name))
        .map_err(|f| f.error)?;
    Ok(())
}

/// Add or replace an activity (one change). Validates first.
pub fn put_activity(doc: &mut Automerge, id: &str, activity: &Activity) -> Result<()> {
    activity.validate()?;
    put_record(doc, ACTIVITIES, id, activity)
}

/// One activity.
pub fn activity(doc: &Automerge, id: &str) -> Result<Option<Activity>> {
    read_record(doc, ACTIVITIES, id)
}

/// Every activity that reads cleanly, sorted by start time. Activities
/// that do not fit the schema are skipped (the server never writes them).
pub fn activities(doc: &Automerge) -> Result<Vec<(String, Activity)>> {
    let mut out = Vec::new();
    for id in record_keys(doc, ACTIVITIES)? {
        if let Ok(Some(a)) = read_record::<Activity>(doc, ACTIVITIES, &id) {
            out.push((id, a));
        }
    }
    out.sort_by_key(|(id, a)| (a.starts_at_ms, id.clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::standard_services;

    #[test]
    fn services_are_listed_in_order_and_retired_not_deleted() {
        let mut doc = new_calendar("h", "会堂", "Asia/Shanghai").expect("doc");
        assert!(has_services(&doc).expect("read"));
        assert!(services(&doc).expect("read").is_empty());
        for (id, s) in standard_services().into_iter().rev() {
            put_service(&mut doc, id, &s).expect("put");
        }
        let names: Vec<_> = services(&doc)
            .expect("read")
            .into_iter()
            .map(|(_, s)| s.name)
            .collect();
        assert_eq!(names, ["办事", "咨询", "医保办理", "社保办理", "便民服务"]);
        let mut s = service(&doc, "consultation").expect("read").expect("there");
        s.retired = true;
        put_service(&mut doc, "consultation", &s).expect("retire");
        assert_eq!(services(&doc).expect("read").len(), 5);
        assert!(services(&doc).expect("read")[1].1.retired);
    }

    #[test]
    fn a_calendar_from_before_services_gets_its_map_on_the_first_put() {
        let mut doc = new_doc(
            DocKind::Calendar,
            "h",
            None,
            None,
            &[ACTIVITIES],
            &[("hall_name", "会堂")],
        )
        .expect("doc");
        assert!(!has_services(&doc).expect("read"));
        assert!(services(&doc).expect("read").is_empty());
        assert_eq!(service(&doc, "affairs").expect("read"), None);
        let (id, s) = standard_services().remove(0);
        put_service(&mut doc, id, &s).expect("put");
        assert!(has_services(&doc).expect("read"));
        assert_eq!(services(&doc).expect("read"), vec![(id.to_string(), s)]);
    }

    #[test]
    fn a_bad_or_one_too_many_service_is_refused_and_nothing_changes() {
        let mut doc = new_calendar("h", "会堂", "Asia/Shanghai").expect("doc");
        let (_, good) = standard_services().remove(0);
        let bad = WalkInService {
            name: "  ".into(),
            ..good.clone()
        };
        assert!(put_service(&mut doc, "x", &bad).is_err());
        for i in 0..MAX_SERVICES {
            put_service(&mut doc, &format!("s{i}"), &good).expect("put");
        }
        let heads = doc.get_heads();
        let err = put_service(&mut doc, "one-more", &good)
            .expect_err("too many")
            .to_string();
        assert!(err.contains("at most"), "{err}");
        assert_eq!(doc.get_heads(), heads, "nothing written");
        put_service(&mut doc, "s0", &good).expect("changing one still works");
    }
}
