//! Rating an activity: five faces and reason chips.

use super::*;

/// Reason chips offered with a rating, with their stored codes.
const CHIPS: [(Key, &str); 6] = [
    (Key::ChipTimeGood, "time_good"),
    (Key::ChipTeacherGood, "teacher_good"),
    (Key::ChipLearned, "learned_much"),
    (Key::ChipCrowded, "too_crowded"),
    (Key::ChipTooShort, "too_short"),
    (Key::ChipWantMore, "want_more"),
];

const FACES: [(u32, Key); 5] = [
    (1, Key::FaceVeryUnhappy),
    (2, Key::FaceUnhappy),
    (3, Key::FaceOkay),
    (4, Key::FaceHappy),
    (5, Key::FaceVeryHappy),
];

/// Taps on a face within this long of the last rating of the same
/// activity count once.
const RATING_DEBOUNCE_MS: i64 = 5_000;

impl KioskApp {
    pub(super) fn faces_screen(
        &mut self,
        ui: &mut egui::Ui,
        activity_id: String,
        title: String,
        mut chips: Vec<Key>,
    ) {
        ui.label(RichText::new(&title).size(TITLE));
        ui.label(self.t(Key::HowWasIt));
        let mut score = None;
        ui.horizontal(|ui| {
            for (s, key) in FACES {
                if face(ui, s, self.t(key)).clicked() {
                    score = Some(s);
                }
            }
        });
        ui.label(self.t(Key::ReasonsOptional));
        ui.horizontal_wrapped(|ui| {
            for (key, _) in CHIPS {
                if chip(ui, self.t(key), chips.contains(&key)).clicked() {
                    toggle(&mut chips, key);
                }
            }
        });
        let Some(score) = score else {
            self.screen = Screen::Faces {
                activity_id,
                title,
                chips,
            };
            return;
        };
        let now = self.now();
        if let Some((last, at)) = &self.last_rating
            && *last == activity_id
            && now - at < RATING_DEBOUNCE_MS
        {
            // A repeated press: it counted already.
            self.done(Key::ThanksRating);
            return;
        }
        self.last_rating = Some((activity_id.clone(), now));
        let reason = CHIPS
            .iter()
            .filter(|(k, _)| chips.contains(k))
            .map(|(_, code)| *code)
            .collect::<Vec<_>>()
            .join(",");
        self.retry_after_failure = Some(Screen::Faces {
            activity_id: activity_id.clone(),
            title,
            chips,
        });
        self.send(Command::Rate {
            activity_id,
            score,
            reason: (!reason.is_empty()).then_some(reason),
        });
        self.screen = Screen::Saving;
    }
}
