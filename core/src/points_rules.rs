//! How a hall's volunteers earn points, and how much of a volunteer's
//! points one kiosk may hold: the rules the central admin sets (issue 16).
//!
//! Rules change over time but never reach back: each version is in force
//! from the moment it was set, and a shift earns under the version in
//! force when it began. A points balance therefore never shrinks because
//! a rule changed, so what a kiosk was granted and spent stays covered
//! (`crate::escrow` needs totals that only grow).
//!
//! One function counts points for everyone: the server's grants and
//! balances, the console's pages and exports, and the kiosk's own
//! figure before the server has counted (it reads the versions from the
//! hall's grants document, where the server publishes them).

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::Datelike as _;

use crate::{Error, Result, model::ActivityKind};

/// Points an hour of service earns under the default rule: one point per
/// started half hour, as halls counted before rules could be set.
pub const DEFAULT_PER_HOUR: u64 = 2;
/// The default most of one volunteer's points a kiosk holds at a time.
pub const DEFAULT_OFFLINE_SHARE: u64 = 200;
/// The most points an hour may earn.
pub const MAX_PER_HOUR: u64 = 60;
/// The largest monthly cap or kiosk share that may be set.
pub const MAX_LIMIT: u64 = 100_000;
/// A shift counts for at most 12 hours: a forgotten sign-out earns no
/// windfall.
pub const MAX_SHIFT_MS: i64 = 12 * 3_600_000;

/// One version of a hall's rules.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate, serde::Serialize, serde::Deserialize)]
pub struct PointsRule {
    /// In force from this moment (ms) until the next version.
    pub from_ms: i64,
    /// Points per hour of service, credited per started part of an hour
    /// (2 an hour: a point per started half hour).
    pub per_hour: u64,
    /// The most points a volunteer earns in a calendar month on the
    /// hall's clock (0: no cap). Shifts beyond it still count as hours.
    pub monthly_cap: u64,
    /// The most of one volunteer's points a kiosk holds at a time: what
    /// it may redeem for them with no network.
    pub offline_share: u64,
    /// The most points a kiosk may lend one volunteer when, offline, it
    /// holds too few of their points for an item their balance affords
    /// (赊兑, on staff's confirmation; repaid from their balance; flagged
    /// in the console). 0: never.
    pub iou_cap: u64,
    /// Points per hour of a shift serving an activity of a kind, by kind
    /// code (`ActivityKind::code`): a 义诊 hour may earn more than a
    /// patrol's. A shift of a kind not listed, or serving no activity (the
    /// hall's everyday duty), earns `per_hour`. (Missing from rules saved
    /// before kinds had rates: none.)
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::docs::values::or_default")]
    pub per_hour_by_kind: BTreeMap<String, u64>,
}

impl Default for PointsRule {
    fn default() -> Self {
        PointsRule {
            from_ms: 0,
            per_hour: DEFAULT_PER_HOUR,
            monthly_cap: 0,
            offline_share: DEFAULT_OFFLINE_SHARE,
            iou_cap: 0,
            per_hour_by_kind: BTreeMap::new(),
        }
    }
}

impl PointsRule {
    /// Every figure in range: 1–60 points an hour, a cap of 0 (none) to
    /// 100,000, a kiosk share of 1 to 100,000 (a kiosk holding none could
    /// not redeem at all).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_PER_HOUR).contains(&self.per_hour) {
            return Err(Error::invalid(
                "points per hour",
                format!("{} (1 to {MAX_PER_HOUR})", self.per_hour),
            ));
        }
        if self.monthly_cap > MAX_LIMIT {
            return Err(Error::invalid(
                "monthly cap",
                format!("{} (0 to {MAX_LIMIT})", self.monthly_cap),
            ));
        }
        if self.iou_cap > MAX_LIMIT {
            return Err(Error::invalid(
                "points a kiosk may lend",
                format!("{} (0 to {MAX_LIMIT})", self.iou_cap),
            ));
        }
        if !(1..=MAX_LIMIT).contains(&self.offline_share) {
            return Err(Error::invalid(
                "points a kiosk holds",
                format!("{} (1 to {MAX_LIMIT})", self.offline_share),
            ));
        }
        if self.from_ms < 0 {
            return Err(Error::invalid("rule start", self.from_ms.to_string()));
        }
        for (kind, rate) in &self.per_hour_by_kind {
            if ActivityKind::ALL.iter().all(|k| k.code() != kind) {
                return Err(Error::invalid("activity kind", format!("{kind:?} is none")));
            }
            if !(1..=MAX_PER_HOUR).contains(rate) {
                return Err(Error::invalid(
                    "points per hour",
                    format!("{rate} for {kind} (1 to {MAX_PER_HOUR})"),
                ));
            }
        }
        Ok(())
    }

    /// Points an hour of service earns serving an activity of `kind`
    /// (`None`: no activity named).
    pub fn per_hour_for(&self, kind: Option<&str>) -> u64 {
        kind.and_then(|k| self.per_hour_by_kind.get(k))
            .copied()
            .unwrap_or(self.per_hour)
    }

    /// Points a shift from `signed_in_ms` to `signed_out_ms` serving an
    /// activity of `kind` earns before any monthly cap: its rate for each
    /// hour, rounded up, the shift counted for at most 12 hours.
    pub fn points_for(&self, kind: Option<&str>, signed_in_ms: i64, signed_out_ms: i64) -> u64 {
        let minutes = (signed_out_ms - signed_in_ms).clamp(0, MAX_SHIFT_MS) / 60_000;
        let minutes = u64::try_from(minutes).unwrap_or(0);
        (minutes * self.per_hour_for(kind)).div_ceil(60)
    }

    /// The rates by kind as text, `health_clinic:4,lecture:3` (empty:
    /// none), as the server's tables and the audit log keep them.
    pub fn by_kind_text(&self) -> String {
        self.per_hour_by_kind
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Rates by kind read back from [`Self::by_kind_text`].
    pub fn parse_by_kind(text: &str) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, rate) = pair
                .split_once(':')
                .ok_or_else(|| Error::invalid("points by kind", format!("{pair:?}")))?;
            let rate = rate
                .trim()
                .parse()
                .map_err(|_| Error::invalid("points by kind", format!("{pair:?}")))?;
            out.insert(kind.trim().to_string(), rate);
        }
        Ok(out)
    }

    /// The rule as the audit log records it.
    pub fn audit_text(&self) -> String {
        let mut text = format!(
            "per_hour={} monthly_cap={} offline_share={} iou_cap={}",
            self.per_hour,
            if self.monthly_cap == 0 {
                "none".to_string()
            } else {
                self.monthly_cap.to_string()
            },
            self.offline_share,
            self.iou_cap
        );
        if !self.per_hour_by_kind.is_empty() {
            text.push_str(&format!(" by_kind={}", self.by_kind_text()));
        }
        text
    }
}

/// A hall's rules: every version, oldest first. With none set, the
/// default rule is in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PointsRules {
    versions: Vec<PointsRule>,
}

/// A closed shift to be credited.
#[derive(Clone, Copy, Debug)]
pub struct Served<'a> {
    /// Whose (any key that tells volunteers apart: a pseudonym).
    pub volunteer: &'a str,
    /// Signed in, ms.
    pub signed_in_ms: i64,
    /// Signed out, ms.
    pub signed_out_ms: i64,
    /// The kind of activity it served (`ActivityKind::code`), if it named
    /// one.
    pub kind: Option<&'a str>,
}

impl PointsRules {
    /// The rules of these versions, in any order (one per start; the
    /// last given wins a tie).
    pub fn new(versions: impl IntoIterator<Item = PointsRule>) -> Self {
        let by_start: BTreeMap<i64, PointsRule> =
            versions.into_iter().map(|v| (v.from_ms, v)).collect();
        PointsRules {
            versions: by_start.into_values().collect(),
        }
    }

    /// The versions, oldest first.
    pub fn versions(&self) -> &[PointsRule] {
        &self.versions
    }

    /// The rule in force at `at_ms` (the default before the first
    /// version).
    pub fn at(&self, at_ms: i64) -> PointsRule {
        self.versions
            .iter()
            .rev()
            .find(|v| v.from_ms <= at_ms)
            .cloned()
            .unwrap_or_default()
    }

    /// The rule in force from now on.
    pub fn current(&self) -> PointsRule {
        self.versions.last().cloned().unwrap_or_default()
    }

    /// The points each shift earned, in the order given: each under the
    /// rule in force when it began, and a volunteer's shifts of one month
    /// (on `tz`'s clock, by their start) together no more than that
    /// rule's monthly cap, counted in the order they began.
    pub fn credit(&self, tz: chrono_tz::Tz, shifts: &[Served<'_>]) -> Vec<u64> {
        let mut order: Vec<usize> = (0..shifts.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&shifts[a], &shifts[b]);
            (x.volunteer, x.signed_in_ms, a).cmp(&(y.volunteer, y.signed_in_ms, b))
        });
        let mut credited = vec![0; shifts.len()];
        let mut month_so_far: BTreeMap<(&str, i32, u32), u64> = BTreeMap::new();
        for i in order {
            let s = &shifts[i];
            let rule = self.at(s.signed_in_ms);
            let mut points = rule.points_for(s.kind, s.signed_in_ms, s.signed_out_ms);
            let began = chrono::DateTime::from_timestamp_millis(s.signed_in_ms)
                .unwrap_or_default()
                .with_timezone(&tz);
            let so_far = month_so_far
                .entry((s.volunteer, began.year(), began.month()))
                .or_default();
            if rule.monthly_cap > 0 {
                points = points.min(rule.monthly_cap.saturating_sub(*so_far));
            }
            *so_far += points;
            credited[i] = points;
        }
        credited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

    fn served(volunteer: &str, at: i64, hours_x2: i64) -> Served<'_> {
        Served {
            volunteer,
            signed_in_ms: at,
            signed_out_ms: at + hours_x2 * HOUR / 2,
            kind: None,
        }
    }

    #[test]
    fn the_default_rule_is_a_point_per_started_half_hour() {
        let r = PointsRule::default();
        assert_eq!(r.points_for(None, 0, 0), 0);
        assert_eq!(r.points_for(None, 0, 60_000), 1);
        assert_eq!(r.points_for(None, 0, 30 * 60_000), 1);
        assert_eq!(r.points_for(None, 0, 31 * 60_000), 2);
        assert_eq!(r.points_for(None, 0, 2 * HOUR), 4);
        // A forgotten sign-out: 12 hours at most; backwards: nothing.
        assert_eq!(r.points_for(None, 0, 40 * HOUR), 24);
        assert_eq!(r.points_for(None, HOUR, 0), 0);
    }

    #[test]
    fn the_rate_is_per_hour_rounded_up() {
        let r = PointsRule {
            per_hour: 5,
            ..PointsRule::default()
        };
        assert_eq!(r.points_for(None, 0, HOUR), 5);
        assert_eq!(r.points_for(None, 0, HOUR + 60_000), 6);
        assert_eq!(r.points_for(None, 0, 90 * 60_000), 8);
    }

    #[test]
    fn a_kind_with_its_own_rate_earns_it_and_the_rest_earn_the_hours_rate() {
        let r = PointsRule {
            per_hour: 2,
            per_hour_by_kind: [("health_clinic".to_string(), 6)].into(),
            ..PointsRule::default()
        };
        assert!(r.validate().is_ok());
        assert_eq!(r.points_for(Some("health_clinic"), 0, HOUR), 6);
        assert_eq!(r.points_for(Some("lecture"), 0, HOUR), 2);
        assert_eq!(r.points_for(None, 0, HOUR), 2);
        let rules = PointsRules::new([r.clone()]);
        let clinic = Served {
            kind: Some("health_clinic"),
            ..served("a", 0, 2)
        };
        assert_eq!(
            rules.credit(SHANGHAI, &[clinic, served("a", 2 * HOUR, 2)]),
            vec![6, 2]
        );
        assert_eq!(r.by_kind_text(), "health_clinic:6");
        assert_eq!(
            PointsRule::parse_by_kind(&r.by_kind_text()).expect("parse"),
            r.per_hour_by_kind
        );
        assert!(PointsRule::parse_by_kind("").expect("none").is_empty());
        assert!(PointsRule::parse_by_kind("health_clinic").is_err());
        assert!(PointsRule::parse_by_kind("health_clinic:x").is_err());
        assert!(
            r.audit_text().ends_with(" by_kind=health_clinic:6"),
            "{}",
            r.audit_text()
        );
    }

    #[test]
    fn a_new_rule_applies_to_shifts_begun_after_it_and_never_reaches_back() {
        let rules = PointsRules::new([PointsRule {
            from_ms: 10 * HOUR,
            per_hour: 10,
            ..PointsRule::default()
        }]);
        let shifts = [served("a", 0, 2), served("a", 10 * HOUR, 2)];
        assert_eq!(rules.credit(SHANGHAI, &shifts), vec![2, 10]);
        assert_eq!(rules.at(HOUR).per_hour, DEFAULT_PER_HOUR);
        assert_eq!(rules.current().per_hour, 10);
    }

    #[test]
    fn a_monthly_cap_stops_points_but_each_month_starts_afresh() {
        let rules = PointsRules::new([PointsRule {
            monthly_cap: 5,
            ..PointsRule::default()
        }]);
        // 2025-11-30 20:00 and 2025-12-01 01:00 in Shanghai (UTC+8):
        // different months on the hall's clock, one UTC day apart.
        let nov_30 = 1_764_504_000_000;
        let dec_1 = nov_30 + 5 * HOUR;
        let shifts = [
            served("a", nov_30 - 48 * HOUR, 4), // 4 points
            served("b", nov_30 - 47 * HOUR, 8), // another volunteer's cap
            served("a", nov_30, 4),             // only 1 left this month
            served("a", dec_1, 4),              // a new month
        ];
        assert_eq!(rules.credit(SHANGHAI, &shifts), vec![4, 5, 1, 4]);
        // In UTC both late shifts fall in November: the cap is the hall's
        // month, so the clock matters.
        assert_eq!(rules.credit(chrono_tz::UTC, &shifts), vec![4, 5, 1, 0]);
    }

    #[test]
    fn absurd_rules_are_refused() {
        let ok = PointsRule::default();
        assert!(ok.validate().is_ok());
        for bad in [
            PointsRule {
                per_hour: 0,
                ..ok.clone()
            },
            PointsRule {
                per_hour: 61,
                ..ok.clone()
            },
            PointsRule {
                monthly_cap: MAX_LIMIT + 1,
                ..ok.clone()
            },
            PointsRule {
                offline_share: 0,
                ..ok.clone()
            },
            PointsRule {
                from_ms: -1,
                ..ok.clone()
            },
            PointsRule {
                iou_cap: MAX_LIMIT + 1,
                ..ok.clone()
            },
            PointsRule {
                per_hour_by_kind: [("patrolling".to_string(), 3)].into(),
                ..ok.clone()
            },
            PointsRule {
                per_hour_by_kind: [("lecture".to_string(), 0)].into(),
                ..ok.clone()
            },
            PointsRule {
                per_hour_by_kind: [("lecture".to_string(), 61)].into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
