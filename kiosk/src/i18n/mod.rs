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

    /// The code stored in settings.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Parse [`Lang::code`]; anything else is Chinese.
    pub fn from_code(s: &str) -> Self {
        if s == "en" { Lang::En } else { Lang::Zh }
    }

    /// The text for `key`.
    pub fn t(self, key: Key) -> &'static str {
        match self {
            Lang::Zh => zh::text(key),
            Lang::En => en::text(key),
        }
    }
}

/// Today as the start screen shows it, large, for residents who orient
/// by the date: `11月24日 星期二 10:45` or `Tuesday 24 November, 10:45`.
pub fn today_line(lang: Lang, t: &chrono::DateTime<chrono_tz::Tz>) -> String {
    use chrono::Datelike as _;
    let weekday = t.weekday().num_days_from_monday() as usize;
    match lang {
        Lang::Zh => {
            const DAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];
            format!(
                "{}月{}日 星期{} {}",
                t.month(),
                t.day(),
                DAYS[weekday],
                t.format("%H:%M")
            )
        }
        Lang::En => t.format("%A %-d %B, %H:%M").to_string(),
    }
}

/// Common surnames offered on the name grid (data, the same in both languages).
pub const SURNAMES: [&str; 24] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢",
];

/// A message the kiosk shows.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    Full,
    Online,
    Offline,
    WaitingToSync,
    AllSynced,
    LastSync,
    Home,
    Back,
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
    /// The standing entry for walk-in services on the check-in screen.
    WalkIn,
    /// Title of the walk-in services screen.
    WhichService,
    /// A walk-in registered without a phone number.
    NoNumber,
    /// Confirming a walk-in.
    ConfirmWalkIn,
    /// A walk-in was recorded.
    WalkInRecorded,
    /// This resident was already registered for this service today.
    AlreadyWalkedIn,
    RecordFailed,
    /// A record could not be saved because the kiosk's store is full.
    StoreFull,
    /// What was entered does not fit the record.
    InputRefused,
    /// The staff setting that reads prompts aloud.
    SpokenPrompts,
    /// A setting that is on.
    SettingOn,
    /// A setting that is off.
    SettingOff,
    StaffHint,
    Starting,
    Saving,
    HeadcountOnly,
    AddOne,
    Counted,
    PhoneInvalid,
    Cancelled,
    WelcomeNew,
    ChooseSurname,
    ChooseTitle,
    Skip,
    Aunt,
    Uncle,
    Mr,
    Ms,
    RateWhich,
    NothingToRate,
    HowWasIt,
    ReasonsOptional,
    FaceVeryUnhappy,
    FaceUnhappy,
    FaceOkay,
    FaceHappy,
    FaceVeryHappy,
    ChipTimeGood,
    ChipTeacherGood,
    ChipLearned,
    ChipCrowded,
    ChipTooShort,
    ChipWantMore,
    ThanksRating,
    ChooseCategory,
    CatSanitation,
    CatRepair,
    CatDispute,
    CatSafety,
    CatService,
    CatIdea,
    CatOther,
    ChoosePhrases,
    PhRubbish,
    PhCorridor,
    PhGreen,
    PhLight,
    PhLift,
    PhWater,
    PhNoise,
    PhParking,
    PhPets,
    PhStranger,
    PhPatrol,
    PhCamera,
    PhMoreClasses,
    PhLongerHours,
    PhBetterMeals,
    PhSeating,
    PhActivity,
    PhVolunteer,
    PhOther,
    WantCallback,
    YesCallback,
    NoCallback,
    Submit,
    RequestSaved,
    YourReference,
    ScanForMore,
    NoRequests,
    StatusReceived,
    StatusInProgress,
    StatusResolved,
    Reply,
    VolunteerTitle,
    HoursThisMonth,
    SignIn,
    ServeWhich,
    EverydayDuty,
    SignOut,
    OnShiftSince,
    SignedIn,
    SignedOut,
    Market,
    Balance,
    PointsUnit,
    RedeemableHere,
    NothingAffordable,
    NoItems,
    NoneLeftHere,
    RedeemTitle,
    BalanceAfter,
    ConfirmRedeem,
    StaffConfirm,
    Redeemed,
    ReceiptNumber,
    RedeemRefused,
    Redeeming,
    FetchingFromHall,
    CatalogueChanged,
    Staff,
    EnterPin,
    PinWrong,
    PinLocked,
    StaffTitle,
    TodayCheckins,
    SyncDetails,
    LastError,
    NeedsRepair,
    KioskInfo,
    Hall,
    KioskId,
    Version,
    Server,
    DefaultLanguage,
    IdleTimeout,
    LeaveFullscreen,
    Repair,
    ExitStaff,
    LargeText,
    NormalText,
    PairTitle,
    ServerAddress,
    PairingToken,
    NewPin,
    PairNow,
    PairMissing,
    PairLinkBad,
    StillThere,
    ReturningIn,
    Continue,
    Space,
    LangNameZh,
    LangNameEn,
}

/// A 爱心超市 tile's second line: what the item costs and how many this
/// kiosk has left of it.
pub fn tile_line(lang: Lang, points: u64, left: u64) -> String {
    match lang {
        Lang::Zh => format!("{points} 分 · 剩 {left} 件"),
        Lang::En => format!("{points} points · {left} left"),
    }
}

/// Why a volunteer can redeem only part of their balance here: offline,
/// the kiosk holds `here` of it (and may lend `lend` more, the hall's
/// rules allowing); online, the rest is at the hall's other kiosks, and
/// fetched when a redemption needs it.
pub fn part_here(lang: Lang, here: u64, lend: u64, online: bool) -> String {
    match (lang, online) {
        (Lang::Zh, false) if lend > 0 => format!(
            "此终端离线可兑换 {here} 分，可赊兑 {lend} 分（须工作人员确认）；联网后可兑换全部"
        ),
        (Lang::En, false) if lend > 0 => format!(
            "Offline, this kiosk can redeem {here} points and lend {lend} more, staff confirming; all of them once it is back online"
        ),
        (Lang::Zh, false) => format!("此终端离线可兑换 {here} 分；联网后可兑换全部"),
        (Lang::En, false) => {
            format!(
                "Offline, this kiosk can redeem {here} points; all of them once it is back online"
            )
        }
        (Lang::Zh, true) => format!("此终端现持有 {here} 分，兑换更多时从本厅其他终端调取"),
        (Lang::En, true) => {
            format!(
                "This kiosk holds {here} points now; more is fetched from the hall's other kiosks when needed"
            )
        }
    }
}

/// On the confirm and staff screens: of the points, what this kiosk will
/// lend (赊兑), offline, for staff to confirm.
pub fn lend_line(lang: Lang, lend: u64) -> String {
    match lang {
        Lang::Zh => {
            format!("此终端离线积分不足：其中 {lend} 分赊兑，须工作人员确认，从积分余额中扣还")
        }
        Lang::En => format!(
            "Offline, this kiosk holds too few points: {lend} of them are lent, staff confirming, and repaid from the balance"
        ),
    }
}

/// On the receipt: what was lent.
pub fn lent_receipt_line(lang: Lang, owed: u64) -> String {
    match lang {
        Lang::Zh => format!("其中赊兑 {owed} 分，从积分余额中扣还"),
        Lang::En => format!("{owed} points of it lent, repaid from the balance"),
    }
}

/// The question on the confirm screen.
pub fn redeem_question(lang: Lang, item: &str, points: u64) -> String {
    match lang {
        Lang::Zh => format!("用 {points} 分兑换「{item}」？"),
        Lang::En => format!("Redeem {points} points for “{item}”?"),
    }
}

/// Every key (for checks over the whole catalogue).
pub const ALL: [Key; 172] = [
    Key::SwitchLanguage,
    Key::CheckIn,
    Key::Rate,
    Key::Requests,
    Key::Volunteers,
    Key::MyRequests,
    Key::TodaysActivities,
    Key::NoActivitiesYet,
    Key::PlacesLeft,
    Key::Unlimited,
    Key::Full,
    Key::Online,
    Key::Offline,
    Key::WaitingToSync,
    Key::AllSynced,
    Key::LastSync,
    Key::Home,
    Key::Back,
    Key::PickActivity,
    Key::NoOpenActivities,
    Key::EnterPhone,
    Key::Clear,
    Key::Delete,
    Key::Next,
    Key::Confirm,
    Key::Companions,
    Key::CheckedIn,
    Key::AlreadyCheckedIn,
    Key::WalkIn,
    Key::WhichService,
    Key::NoNumber,
    Key::ConfirmWalkIn,
    Key::WalkInRecorded,
    Key::AlreadyWalkedIn,
    Key::RecordFailed,
    Key::StoreFull,
    Key::InputRefused,
    Key::SpokenPrompts,
    Key::SettingOn,
    Key::SettingOff,
    Key::StaffHint,
    Key::Starting,
    Key::Saving,
    Key::HeadcountOnly,
    Key::AddOne,
    Key::Counted,
    Key::PhoneInvalid,
    Key::Cancelled,
    Key::WelcomeNew,
    Key::ChooseSurname,
    Key::ChooseTitle,
    Key::Skip,
    Key::Aunt,
    Key::Uncle,
    Key::Mr,
    Key::Ms,
    Key::RateWhich,
    Key::NothingToRate,
    Key::HowWasIt,
    Key::ReasonsOptional,
    Key::FaceVeryUnhappy,
    Key::FaceUnhappy,
    Key::FaceOkay,
    Key::FaceHappy,
    Key::FaceVeryHappy,
    Key::ChipTimeGood,
    Key::ChipTeacherGood,
    Key::ChipLearned,
    Key::ChipCrowded,
    Key::ChipTooShort,
    Key::ChipWantMore,
    Key::ThanksRating,
    Key::ChooseCategory,
    Key::CatSanitation,
    Key::CatRepair,
    Key::CatDispute,
    Key::CatSafety,
    Key::CatService,
    Key::CatIdea,
    Key::CatOther,
    Key::ChoosePhrases,
    Key::PhRubbish,
    Key::PhCorridor,
    Key::PhGreen,
    Key::PhLight,
    Key::PhLift,
    Key::PhWater,
    Key::PhNoise,
    Key::PhParking,
    Key::PhPets,
    Key::PhStranger,
    Key::PhPatrol,
    Key::PhCamera,
    Key::PhMoreClasses,
    Key::PhLongerHours,
    Key::PhBetterMeals,
    Key::PhSeating,
    Key::PhActivity,
    Key::PhVolunteer,
    Key::PhOther,
    Key::WantCallback,
    Key::YesCallback,
    Key::NoCallback,
    Key::Submit,
    Key::RequestSaved,
    Key::YourReference,
    Key::ScanForMore,
    Key::NoRequests,
    Key::StatusReceived,
    Key::StatusInProgress,
    Key::StatusResolved,
    Key::Reply,
    Key::VolunteerTitle,
    Key::HoursThisMonth,
    Key::SignIn,
    Key::ServeWhich,
    Key::EverydayDuty,
    Key::SignOut,
    Key::OnShiftSince,
    Key::SignedIn,
    Key::SignedOut,
    Key::Market,
    Key::Balance,
    Key::PointsUnit,
    Key::RedeemableHere,
    Key::NothingAffordable,
    Key::NoItems,
    Key::NoneLeftHere,
    Key::RedeemTitle,
    Key::BalanceAfter,
    Key::ConfirmRedeem,
    Key::StaffConfirm,
    Key::Redeemed,
    Key::ReceiptNumber,
    Key::RedeemRefused,
    Key::Redeeming,
    Key::FetchingFromHall,
    Key::CatalogueChanged,
    Key::Staff,
    Key::EnterPin,
    Key::PinWrong,
    Key::PinLocked,
    Key::StaffTitle,
    Key::TodayCheckins,
    Key::SyncDetails,
    Key::LastError,
    Key::NeedsRepair,
    Key::KioskInfo,
    Key::Hall,
    Key::KioskId,
    Key::Version,
    Key::Server,
    Key::DefaultLanguage,
    Key::IdleTimeout,
    Key::LeaveFullscreen,
    Key::Repair,
    Key::ExitStaff,
    Key::LargeText,
    Key::NormalText,
    Key::PairTitle,
    Key::ServerAddress,
    Key::PairingToken,
    Key::NewPin,
    Key::PairNow,
    Key::PairMissing,
    Key::PairLinkBad,
    Key::StillThere,
    Key::ReturningIn,
    Key::Continue,
    Key::Space,
    Key::LangNameZh,
    Key::LangNameEn,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_reads_as_date_weekday_and_time_in_both_languages() {
        use chrono::TimeZone as _;
        let t = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 24, 5, 40, 0)
            .single()
            .expect("time");
        assert_eq!(today_line(Lang::Zh, &t), "11月24日 星期二 05:40");
        assert_eq!(today_line(Lang::En, &t), "Tuesday 24 November, 05:40");
        let sunday = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 29, 21, 5, 0)
            .single()
            .expect("time");
        assert_eq!(today_line(Lang::Zh, &sunday), "11月29日 星期日 21:05");
    }

    #[test]
    fn the_shops_sentences_carry_their_figures_in_both_languages() {
        assert_eq!(tile_line(Lang::Zh, 20, 3), "20 分 · 剩 3 件");
        assert_eq!(tile_line(Lang::En, 20, 3), "20 points · 3 left");
        assert_eq!(
            part_here(Lang::Zh, 12, 0, false),
            "此终端离线可兑换 12 分；联网后可兑换全部"
        );
        assert!(part_here(Lang::Zh, 12, 5, false).contains("可赊兑 5 分"));
        assert!(part_here(Lang::En, 12, 5, false).contains("lend 5 more"));
        assert!(part_here(Lang::En, 12, 0, true).contains("holds 12 points now"));
        assert!(lend_line(Lang::Zh, 20).contains("其中 20 分赊兑"));
        assert!(lent_receipt_line(Lang::En, 20).starts_with("20 points"));
        assert_eq!(
            redeem_question(Lang::Zh, "毛巾", 6),
            "用 6 分兑换「毛巾」？"
        );
    }

    #[test]
    fn every_key_has_text_in_both_languages() {
        for key in ALL {
            assert!(!Lang::Zh.t(key).is_empty(), "{key:?}");
            assert!(!Lang::En.t(key).is_empty(), "{key:?}");
        }
    }
}
