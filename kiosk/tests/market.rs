//! Issue 16 at the kiosk: a volunteer redeems points at the hall's 爱心超市
//! on the volunteer screen — the items their balance affords, confirm,
//! staff confirm the hand-over with their PIN, a receipt — in Chinese and
//! in English; with too few points, nothing is offered; offline, the
//! kiosk says plainly how much of the balance it can redeem. A real kiosk
//! against the in-process demo server (whose demo halls stock the
//! catalogue of `linli_sync_server::demo::DEMO_CATALOGUE`).

mod common;

use std::time::{Duration, Instant};

use common::{PIN, kiosk};
use linli_core::phone::PhoneNumber;
use linli_sync_server::in_process::DEMO_HALL;

const VOLUNTEER: &str = "13600005678";

#[test]
fn a_volunteer_redeems_with_staff_confirmation_and_gets_a_receipt_then_has_too_few_points() {
    let mut k = kiosk();
    // Two hours of service on this kiosk: 4 points.
    k.tap("志愿者");
    k.type_digits(VOLUNTEER);
    k.tap("下一步");
    k.until_text("本月服务时长");
    k.tap("签到上岗");
    k.tap("日常值班（不属于某个活动）");
    k.until_text("已上岗");
    k.advance(2 * 3_600_000);
    k.until_text("今日活动");
    k.volunteer_until(VOLUNTEER, "上岗时间", false);
    k.tap("签退");
    k.until_text("已签退");
    k.tap("回首页");

    // The server counts them and grants the kiosk its share.
    k.volunteer_until(VOLUNTEER, "此终端可兑换: 4 分", false);
    assert!(k.shows("积分余额: 4 分"));
    assert!(k.shows("爱心超市"));
    // What 4 points afford, and nothing dearer.
    assert!(k.enabled("肥皂") && k.enabled("毛巾"));
    assert!(k.shows("4 分 · 剩 15 件"), "毛巾: 15 in stock, one kiosk");
    assert!(!k.shows("理发券"), "6 points: not offered");

    k.tap_containing("毛巾");
    k.until_text("用 4 分兑换「毛巾」？");
    assert!(k.shows("兑换后余额: 0 分"));
    k.tap("确认兑换");
    k.until_text("请工作人员输入密码，确认交付物品");
    // A wrong PIN redeems nothing.
    k.type_digits("1111");
    k.tap("确认兑换");
    k.until_text("密码不对");
    assert!(k.shows("请工作人员输入密码"));
    k.type_digits(PIN);
    k.tap("确认兑换");
    k.until_text("兑换成功，请向工作人员领取物品");
    assert!(k.shows("毛巾  −4 分"));
    assert!(k.shows("兑换编号: "));

    // Back again: the balance is spent, and nothing is offered.
    k.volunteer_until(VOLUNTEER, "积分余额: 0 分", false);
    assert!(k.shows("积分还不够兑换物品，继续加油！"));
    assert!(!k.shows("肥皂"));

    // The server counts the redemption once, against the volunteer's
    // points and the towels' stock.
    let core = k.server.core.clone();
    let account = format!(
        "points:{}",
        core.residents
            .pseudonym(&PhoneNumber::parse(VOLUNTEER).expect("a number"))
            .expect("pseudonym")
    );
    let started = Instant::now();
    loop {
        k.harness.step();
        let view = k
            .server
            .block_on(linli_sync_engine::points::escrow_of(&core, DEMO_HALL))
            .expect("the hall's rights");
        if view.spent("stock:毛巾") == 1 {
            assert_eq!(view.spent(&account), 4);
            assert!(view.committed(&account) <= 4, "never more than earned");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not synced");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn offline_the_kiosk_says_how_much_it_can_redeem_and_still_redeems_that() {
    let mut k = kiosk();
    // 11 long shifts: 264 points, of which one kiosk holds at most 200.
    k.seed_service(VOLUNTEER, 11);
    k.server
        .block_on(async {
            let tables = &k.server.core.tables;
            tables.set_catalogue_item(DEMO_HALL, "电饭煲", 220).await?;
            tables.set_catalogue_stock(DEMO_HALL, "电饭煲", 2).await
        })
        .expect("a dear item");
    k.volunteer_until(VOLUNTEER, "此终端可兑换: 200 分", false);
    // Stock of everything has arrived too.
    k.volunteer_until(VOLUNTEER, "220 分 · 剩 2 件", false);

    // The network goes.
    k.server.stop();
    k.until_text("未联网");
    k.volunteer_until(VOLUNTEER, "积分余额: 264 分", false);
    assert!(k.shows("此终端离线可兑换 200 分；联网后可兑换全部"));
    assert!(
        !k.enabled("电饭煲"),
        "220 points: more than this kiosk holds"
    );
    assert!(k.enabled("大米 5kg"));

    // What it holds it still redeems, offline.
    k.tap_containing("大米 5kg");
    k.until_text("用 20 分兑换「大米 5kg」？");
    k.tap("确认兑换");
    k.until_text("请工作人员输入密码");
    k.type_digits(PIN);
    k.tap("确认兑换");
    k.until_text("兑换成功");
    k.volunteer_until(VOLUNTEER, "此终端可兑换: 180 分", false);
    assert!(k.shows("积分余额: 244 分"));
}

#[test]
fn online_an_item_dearer_than_the_kiosk_holds_is_fetched_and_redeemed() {
    let mut k = kiosk();
    // 264 points, of which one kiosk holds at most 200: a 220-point item
    // is fetched from the hall when the volunteer redeems it online.
    k.seed_service(VOLUNTEER, 11);
    k.server
        .block_on(async {
            let tables = &k.server.core.tables;
            tables.set_catalogue_item(DEMO_HALL, "电饭煲", 220).await?;
            tables.set_catalogue_stock(DEMO_HALL, "电饭煲", 2).await
        })
        .expect("a dear item");
    k.volunteer_until(VOLUNTEER, "220 分 · 剩 2 件", false);
    assert!(k.shows("此终端现持有 200 分，兑换更多时从本厅其他终端调取"));
    assert!(k.enabled("电饭煲"), "online, the rest is fetched");
    k.tap_containing("电饭煲");
    k.until_text("用 220 分兑换「电饭煲」？");
    assert!(k.shows("兑换后余额: 44 分"));
    k.tap("确认兑换");
    k.until_text("请工作人员输入密码");
    k.type_digits(PIN);
    k.tap("确认兑换");
    k.until_text("正在兑换，请稍候");
    assert!(k.shows("最多约需 25 秒"));
    k.until_text_within("兑换成功", Duration::from_secs(40));
    assert!(k.shows("电饭煲  −220 分"));
    k.volunteer_until(VOLUNTEER, "积分余额: 44 分", false);
}

#[test]
fn offline_staff_may_lend_what_the_kiosk_lacks_when_the_hall_allows_it() {
    let mut k = kiosk();
    // 264 points, 200 of them here; the hall lets a kiosk lend up to 30.
    k.seed_service(VOLUNTEER, 11);
    k.server
        .block_on(async {
            let tables = &k.server.core.tables;
            // The rule first: the grants that bring the rice cookers bring
            // it too.
            let rule = linli_core::points_rules::PointsRule {
                from_ms: 0,
                iou_cap: 30,
                ..Default::default()
            };
            tables.add_points_rule(DEMO_HALL, &rule).await?;
            tables.set_catalogue_item(DEMO_HALL, "电饭煲", 220).await?;
            tables
                .set_catalogue_stock(DEMO_HALL, "电饭煲", 2)
                .await
                .map(|_| ())
        })
        .expect("a dear item and lending allowed");
    k.volunteer_until(VOLUNTEER, "220 分 · 剩 2 件", false);
    k.server.stop();
    k.until_text("未联网");
    k.volunteer_until(
        VOLUNTEER,
        "此终端离线可兑换 200 分，可赊兑 30 分（须工作人员确认）",
        false,
    );
    assert!(k.enabled("电饭煲"), "200 held and 30 to lend cover 220");
    k.tap_containing("电饭煲");
    k.until_text("用 220 分兑换「电饭煲」？");
    assert!(k.shows("其中 20 分赊兑，须工作人员确认"));
    k.tap("确认兑换");
    k.until_text("请工作人员输入密码");
    assert!(k.shows("其中 20 分赊兑"), "staff see what they confirm");
    k.type_digits(PIN);
    k.tap("确认兑换");
    k.until_text("兑换成功");
    assert!(k.shows("其中赊兑 20 分，从积分余额中扣还"));
    assert!(k.shows("电饭煲  −220 分"));
    // 10 more may be lent, not 220 again: the second rice cooker is not
    // offered.
    k.volunteer_until(VOLUNTEER, "积分余额: 44 分", false);
    assert!(!k.shows("电饭煲"), "44 points do not afford it");
}

#[test]
fn redemption_in_english() {
    let mut k = kiosk();
    k.seed_service(VOLUNTEER, 1);
    k.volunteer_until(VOLUNTEER, "Redeemable at this kiosk: 24 points", true);
    assert!(k.shows("Points balance: 24 points"));
    assert!(k.shows("20 points · 6 left"));
    k.tap_containing("大米 5kg");
    k.until_text("Redeem 20 points for “大米 5kg”?");
    assert!(k.shows("Balance afterwards: 4 points"));
    k.tap("Confirm");
    k.until_text("Staff: enter the PIN to confirm the hand-over");
    k.type_digits(PIN);
    k.tap("Confirm");
    k.until_text("Redeemed. Please collect the item from staff");
    assert!(k.shows("Receipt number: "));
    // The idle reset clears it, as every other flow.
    k.advance(61_000);
    k.until_text("今日活动");
    assert!(!k.shows("Receipt number"));
}
