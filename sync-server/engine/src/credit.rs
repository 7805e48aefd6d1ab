//! The points each volunteer shift of a hall earned, under the hall's
//! rules (`linli_core::points_rules`): one count for the grants, the
//! balances kiosks show, and the console's pages and exports, so no two
//! of them ever disagree about what a volunteer has.

use std::collections::HashMap;

use linli_core::{
    points_rules::{PointsRules, Served},
    resident::ResidentRef,
};

use crate::{Result, projection_tables::ShiftSpan, provision, server::ServerCore};

/// A hall's rules, every version (the default while none is set).
pub async fn rules_of(core: &ServerCore, hall_id: &str) -> Result<PointsRules> {
    Ok(PointsRules::new(core.tables.points_rules(hall_id).await?))
}

/// Every shift of hall `hall_id` (open ones too), oldest first, with the
/// points it earned: nothing while open, else what the rule in force when
/// it began gives, within that rule's monthly cap for its volunteer.
pub async fn credited_shifts(core: &ServerCore, hall_id: &str) -> Result<Vec<(ShiftSpan, u64)>> {
    let tz = provision::require_hall(core, hall_id).await?.time_zone();
    let rules = rules_of(core, hall_id).await?;
    let spans = core
        .projection
        .shift_spans(hall_id, "0000-01-01", "9999-12-31")
        .await?;
    let kinds = if spans.iter().any(|s| s.activity_id.is_some()) {
        activity_kinds(core, hall_id).await?
    } else {
        HashMap::new()
    };
    Ok(credit(&rules, tz, &kinds, spans))
}

/// The kind of each activity of the hall's calendar, by id.
async fn activity_kinds(core: &ServerCore, hall_id: &str) -> Result<HashMap<String, String>> {
    Ok(provision::activities(core, hall_id)
        .await?
        .into_iter()
        .map(|(id, a)| (id, a.kind))
        .collect())
}

/// The shifts of hall `hall_id` begun on days `from` to `to` (ledger
/// days, `2026-11-23`), as `shift_spans` lists them, with the points each
/// earned: counted over all the hall's shifts, so a monthly cap that
/// earlier shifts reached is kept whatever range is asked.
pub async fn credited_in(
    core: &ServerCore,
    hall_id: &str,
    from: &str,
    to: &str,
) -> Result<Vec<(ShiftSpan, u64)>> {
    let asked = core.projection.shift_spans(hall_id, from, to).await?;
    let mut earned: std::collections::HashMap<String, u64> = credited_shifts(core, hall_id)
        .await?
        .into_iter()
        .map(|(s, p)| (s.shift_id, p))
        .collect();
    Ok(asked
        .into_iter()
        .map(|s| {
            let p = earned.remove(&s.shift_id).unwrap_or(0);
            (s, p)
        })
        .collect())
}

/// [`credited_shifts`] over spans already read, with the kind of each
/// activity of the hall by id (`kinds`): a shift serving an activity
/// earns its kind's rate; one serving none, or an activity the calendar
/// does not have, earns the hours rate.
pub fn credit(
    rules: &PointsRules,
    tz: chrono_tz::Tz,
    kinds: &HashMap<String, String>,
    spans: Vec<ShiftSpan>,
) -> Vec<(ShiftSpan, u64)> {
    // Erased volunteers are all "erased": each of their shifts is its own
    // volunteer, so no one's cap is shared with another's.
    let keys: Vec<String> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.pseudonym == ResidentRef::ERASED {
                format!("{}#{i}", ResidentRef::ERASED)
            } else {
                s.pseudonym.clone()
            }
        })
        .collect();
    let closed: Vec<(usize, Served<'_>)> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.signed_out_ms.map(|out| {
                (
                    i,
                    Served {
                        volunteer: &keys[i],
                        signed_in_ms: s.signed_in_ms,
                        signed_out_ms: out,
                        kind: s
                            .activity_id
                            .as_ref()
                            .and_then(|a| kinds.get(a))
                            .map(String::as_str),
                    },
                )
            })
        })
        .collect();
    let served: Vec<Served<'_>> = closed.iter().map(|(_, s)| *s).collect();
    let mut points = vec![0; spans.len()];
    for ((i, _), p) in closed.iter().zip(rules.credit(tz, &served)) {
        points[*i] = p;
    }
    spans.into_iter().zip(points).collect()
}
