//! Every string the kiosk shows, one catalogue per language. Screens ask
//! for a [`Key`]; no screen code holds a literal a resident reads.

mod en;
mod zh;

/// The kiosk's languages: Simplified Chinese first, English second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The other language (the switch on every screen).
    pub fn toggled(self) -> Self {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The text for `key`.
    pub fn t(self, key: Key) -> &'static str {
        match self {
            Lang::Zh => zh::text(key),
            Lang::En => en::text(key),
        }
    }
}

/// A message the kiosk shows.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    SwitchLanguage,
    CheckIn,
    Rate,
    Requests,
    Volunteers,
    MyRequests,
    TodaysActivities,
    NoActivitiesYet,
    PlacesLeft,
    Unlimited,
    Online,
    Offline,
    WaitingToSync,
    AllSynced,
    LastSync,
    Back,
    Home,
    PickActivity,
    NoOpenActivities,
    EnterPhone,
    Clear,
    Delete,
    Next,
    Confirm,
    Companions,
    CheckedIn,
    AlreadyCheckedIn,
    RecordFailed,
    StaffHint,
    Starting,
    HeadcountOnly,
    AddOne,
    Counted,
    PhoneInvalid,
    Cancelled,
}
