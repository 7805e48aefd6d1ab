//! Statistics over records, the same on kiosk and server: person-times
//! (人次), average satisfaction and resolution rate. Pure functions, so
//! what the console shows and what an export counts can be checked against
//! one definition.

use crate::model::{CheckIn, Rating, RequestStatus};

/// Person-times served by these check-ins (each person and companion once).
pub fn person_times<'a>(checkins: impl IntoIterator<Item = &'a CheckIn>) -> u64 {
    checkins.into_iter().map(CheckIn::person_times).sum()
}

/// Mean score of these ratings, `None` when there are none.
pub fn satisfaction<'a>(ratings: impl IntoIterator<Item = &'a Rating>) -> Option<f64> {
    let (sum, n) = ratings
        .into_iter()
        .fold((0u64, 0u64), |(s, n), r| (s + u64::from(r.score), n + 1));
    (n > 0).then(|| sum as f64 / n as f64)
}

/// Share of requests resolved, `None` when there are none.
pub fn resolution_rate(statuses: impl IntoIterator<Item = RequestStatus>) -> Option<f64> {
    let (resolved, n) = statuses.into_iter().fold((0u64, 0u64), |(r, n), s| {
        (r + u64::from(s == RequestStatus::Resolved), n + 1)
    });
    (n > 0).then(|| resolved as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_times_count_companions_and_headcounts() {
        let named = CheckIn {
            activity_id: "a".into(),
            service: None,
            resident: None,
            headcount: 1,
            companions: 2,
            kiosk_id: "k".into(),
            at_ms: 0,
        };
        let tap = CheckIn {
            headcount: 5,
            companions: 0,
            ..named.clone()
        };
        assert_eq!(person_times([&named, &tap]), 8);
        assert_eq!(person_times([]), 0);
    }

    #[test]
    fn rates_are_none_without_data() {
        assert_eq!(satisfaction([]), None);
        assert_eq!(resolution_rate([]), None);
        assert_eq!(
            resolution_rate([RequestStatus::Resolved, RequestStatus::Received]),
            Some(0.5)
        );
    }
}
