//! English.

use super::Key;

/// The English text of `key`.
pub fn text(key: Key) -> &'static str {
    match key {
        Key::SwitchLanguage => "中文",
        Key::CheckIn => "Check in",
        Key::Rate => "Rate",
        Key::Requests => "Requests & suggestions",
        Key::Volunteers => "Volunteers",
        Key::MyRequests => "My requests",
        Key::TodaysActivities => "Today's activities",
        Key::NoActivitiesYet => "No activities scheduled today",
        Key::PlacesLeft => "places left",
        Key::Unlimited => "open to all",
        Key::Online => "Online",
        Key::Offline => "Offline (records are kept on this kiosk)",
        Key::WaitingToSync => "records waiting to sync",
        Key::AllSynced => "Everything synced",
        Key::LastSync => "Last sync",
        Key::Back => "Back",
        Key::Home => "Home",
        Key::PickActivity => "Choose the activity to check in to",
        Key::NoOpenActivities => "No activity is open for check-in now",
        Key::EnterPhone => "Type your mobile number",
        Key::Clear => "Clear",
        Key::Delete => "Delete",
        Key::Next => "Next",
        Key::Confirm => "Confirm check-in",
        Key::Companions => "People with you",
        Key::CheckedIn => "You are checked in. Welcome!",
        Key::AlreadyCheckedIn => "You are already checked in",
        Key::RecordFailed => "Could not save; please try again",
        Key::StaffHint => "Please ask a member of staff",
        Key::Starting => "Starting…",
        Key::HeadcountOnly => "This activity is counted by head: tap once per person",
        Key::AddOne => "One more +1",
        Key::Counted => "Counted",
        Key::PhoneInvalid => "A mobile number has 11 digits and starts with 13 to 19",
        Key::Cancelled => "Cancelled",
    }
}
