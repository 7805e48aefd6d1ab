//! 简体中文.

use super::Key;

/// The Chinese text of `key`.
pub fn text(key: Key) -> &'static str {
    match key {
        Key::SwitchLanguage => "English",
        Key::CheckIn => "签到",
        Key::Rate => "评价",
        Key::Requests => "意见建议",
        Key::Volunteers => "志愿者",
        Key::MyRequests => "我的",
        Key::TodaysActivities => "今日活动",
        Key::NoActivitiesYet => "今天还没有活动安排",
        Key::PlacesLeft => "剩余名额",
        Key::Unlimited => "不限名额",
        Key::Online => "已联网",
        Key::Offline => "未联网（记录已保存在本机）",
        Key::WaitingToSync => "条记录等待同步",
        Key::AllSynced => "全部已同步",
        Key::LastSync => "上次同步",
        Key::Back => "返回",
        Key::Home => "回首页",
        Key::PickActivity => "请选择要签到的活动",
        Key::NoOpenActivities => "现在没有可以签到的活动",
        Key::EnterPhone => "请输入手机号码",
        Key::Clear => "清空",
        Key::Delete => "删除",
        Key::Next => "下一步",
        Key::Confirm => "确认签到",
        Key::Companions => "同行人数",
        Key::CheckedIn => "签到成功，欢迎您！",
        Key::AlreadyCheckedIn => "您已经签到过了，不用再签",
        Key::RecordFailed => "没能保存，请再试一次",
        Key::StaffHint => "请联系工作人员",
        Key::Starting => "正在启动……",
        Key::HeadcountOnly => "本活动按人数统计，每来一位点一下",
        Key::AddOne => "来了一位 +1",
        Key::Counted => "已计入",
        Key::PhoneInvalid => "手机号码应为 11 位，以 13–19 开头",
        Key::Cancelled => "已取消",
    }
}
