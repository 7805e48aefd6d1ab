//! The contract of the server's own tables: what every store behind
//! `linli_sync_engine::tables::ServerTables` answers, call by call. The
//! SQLite file's tests (`sync-server/engine/tests/tables.rs`) and
//! PostgreSQL's (`sync-server/store-postgres/tests/postgres.rs`) run the
//! same [`contract`] on a fresh store, so the two cannot drift apart.

use anyhow::{Context, bail, ensure};
use linli_sync_engine::{
    Error,
    db::{AuditFilter, Claim, Hall, NewDoc},
    tables::{AdminTokens, RemovedAdmin, ServerTables},
};

fn hall(id: &str) -> Hall {
    Hall {
        id: id.into(),
        name: format!("{id} 社区"),
        tz: "Asia/Shanghai".into(),
        calendar_doc: format!("cal-{id}"),
        directory_doc: format!("dir-{id}"),
    }
}

fn new_doc(doc: &str, hall: &str, kiosk: &str) -> NewDoc {
    NewDoc {
        doc_id: doc.into(),
        hall_id: hall.into(),
        kiosk_id: kiosk.into(),
    }
}

/// Run every call of the interface on `t`, a store with nothing in it,
/// and check each answer.
pub async fn contract(t: &dyn ServerTables) -> anyhow::Result<()> {
    settings(t).await.context("settings")?;
    halls_and_kiosks(t).await.context("halls and kiosks")?;
    admins_and_sessions(t)
        .await
        .context("admins and sessions")?;
    removing_admins(t).await.context("removing admins")?;
    documents(t).await.context("documents")?;
    audit_log(t).await.context("audit log")?;
    catalogue(t).await.context("catalogue")?;
    points_rules(t).await.context("points rules")?;
    hall_documents(t).await.context("hall documents")?;
    Ok(())
}

/// Documents the server makes for a hall beside its calendar and
/// directory (the grants of points): found by kind, the first one made.
async fn hall_documents(t: &dyn ServerTables) -> anyhow::Result<()> {
    ensure!(t.hall_doc("xianfeng", "grants").await?.is_none());
    t.insert_hall_doc("grants-b", "xianfeng", "grants", 2_000)
        .await?;
    t.insert_hall_doc("grants-a", "xianfeng", "grants", 2_001)
        .await?;
    t.insert_hall_doc("grants-b", "xianfeng", "grants", 1)
        .await?;
    ensure!(
        t.hall_doc("xianfeng", "grants").await?.as_deref() == Some("grants-b"),
        "the first made, recorded once"
    );
    let owner = t.doc_owner("grants-b").await?.context("recorded")?;
    ensure!(
        owner.kind.as_deref() == Some("grants") && owner.owner_kiosk.is_none(),
        "the server's, of its kind: {owner:?}"
    );
    ensure!(t.hall_doc("zhongfu", "grants").await?.is_none(), "per hall");
    ensure!(
        t.hall_doc("xianfeng", "calendar").await?.is_some(),
        "the calendar is a hall document too"
    );
    t.retire_documents(&["grants-b".to_string()], 2_002).await?;
    ensure!(
        t.hall_doc("xianfeng", "grants").await?.as_deref() == Some("grants-a"),
        "a retired one is passed over"
    );
    Ok(())
}

async fn audit_log(t: &dyn ServerTables) -> anyhow::Result<()> {
    // One entry from `admins_and_sessions` at 400; five more.
    for (i, (user, action)) in [
        ("wang", "revoke_kiosk"),
        ("li", "answer_request"),
        ("wang", "answer_request"),
        ("li", "answer_request"),
        ("wang", "export_requests_csv"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = 1_000 + i64::try_from(i)?;
        t.audit(user, action, "某对象", Some("之前"), None, at)
            .await?;
    }
    let everything = AuditFilter {
        user: None,
        action: None,
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let page = t.audit_page(&everything, before, 4).await?;
        before = page.last().map(|e| e.id);
        seen.extend(page.iter().map(|e| e.at_ms));
        if page.len() < 4 {
            break;
        }
    }
    ensure!(
        seen == [1_004, 1_003, 1_002, 1_001, 1_000, 400],
        "newest first, every entry once across pages: {seen:?}"
    );
    let li = AuditFilter {
        user: Some("li".into()),
        action: Some("answer_request".into()),
        ..everything.clone()
    };
    let found = t.audit_page(&li, None, 100).await?;
    ensure!(
        found.len() == 2
            && found.iter().all(|e| e.user == "li"
                && e.action == "answer_request"
                && e.target == "某对象"
                && e.before.as_deref() == Some("之前")
                && e.after.is_none()),
        "by whom and what: {found:?}"
    );
    let window = AuditFilter {
        from_ms: 1_001,
        to_ms: 1_003,
        ..everything
    };
    let found: Vec<i64> = t
        .audit_page(&window, None, 100)
        .await?
        .iter()
        .map(|e| e.at_ms)
        .collect();
    ensure!(
        found == [1_002, 1_001],
        "from inclusive, to exclusive: {found:?}"
    );
    Ok(())
}

async fn points_rules(t: &dyn ServerTables) -> anyhow::Result<()> {
    use linli_core::points_rules::PointsRule;
    ensure!(t.points_rules("xianfeng").await?.is_empty(), "none set");
    let later = PointsRule {
        from_ms: 2_000,
        per_hour: 3,
        monthly_cap: 40,
        offline_share: 120,
        iou_cap: 15,
        per_hour_by_kind: [("health_clinic".to_string(), 6), ("lecture".to_string(), 3)].into(),
    };
    let first = PointsRule {
        from_ms: 1_000,
        ..PointsRule::default()
    };
    ensure!(t.add_points_rule("xianfeng", &later).await?);
    ensure!(t.add_points_rule("xianfeng", &first).await?);
    ensure!(
        !t.add_points_rule(
            "xianfeng",
            &PointsRule {
                per_hour: 9,
                ..later.clone()
            }
        )
        .await?,
        "a version starting at the same moment is refused, the first kept"
    );
    ensure!(
        t.points_rules("xianfeng").await? == [first, later],
        "oldest first, every figure kept"
    );
    ensure!(
        t.points_rules("zhongfu").await?.is_empty(),
        "each hall its own"
    );
    Ok(())
}

async fn catalogue(t: &dyn ServerTables) -> anyhow::Result<()> {
    ensure!(t.points_catalogue("xianfeng").await?.is_empty());
    t.set_catalogue_item("xianfeng", "大米 5 斤", 50).await?;
    t.set_catalogue_item("xianfeng", "洗衣液", 30).await?;
    t.set_catalogue_item("xianfeng", "大米 5 斤", 40).await?;
    ensure!(
        t.points_catalogue("xianfeng").await?
            == [("洗衣液".to_string(), 30), ("大米 5 斤".to_string(), 40)],
        "cheapest first, a changed item once"
    );
    ensure!(
        t.points_catalogue("zhongfu").await?.is_empty(),
        "each hall its own"
    );
    ensure!(
        t.catalogue_stock("xianfeng").await?
            == [("大米 5 斤".to_string(), 0), ("洗衣液".to_string(), 0)],
        "no stock until set"
    );
    ensure!(t.set_catalogue_stock("xianfeng", "洗衣液", 12).await?);
    ensure!(
        !t.set_catalogue_stock("xianfeng", "不在目录里", 5).await?,
        "only an item of the catalogue"
    );
    t.set_catalogue_item("xianfeng", "洗衣液", 25).await?;
    ensure!(
        t.catalogue_stock("xianfeng").await?
            == [("大米 5 斤".to_string(), 0), ("洗衣液".to_string(), 12)],
        "a new price keeps the stock"
    );
    ensure!(t.catalogue_stock("zhongfu").await?.is_empty());
    Ok(())
}

async fn settings(t: &dyn ServerTables) -> anyhow::Result<()> {
    ensure!(t.meta("peer_id").await?.is_none());
    t.set_meta("peer_id", "a").await?;
    t.set_meta("peer_id", "b").await?;
    ensure!(t.meta("peer_id").await?.as_deref() == Some("b"), "replaced");
    ensure!(t.meta_or_insert("peer_id", "c").await? == "b", "kept");
    ensure!(t.meta_or_insert("salt", "s").await? == "s", "inserted");
    Ok(())
}

async fn halls_and_kiosks(t: &dyn ServerTables) -> anyhow::Result<()> {
    t.insert_hall(&hall("zhongfu"), 1).await?;
    t.insert_hall(&hall("xianfeng"), 2).await?;
    match t.insert_hall(&hall("xianfeng"), 3).await {
        Err(Error::Conflict(m)) => ensure!(m.contains("xianfeng"), "{m}"),
        other => bail!("a taken hall id: {other:?}"),
    }
    let ids: Vec<String> = t.halls().await?.into_iter().map(|h| h.id).collect();
    ensure!(ids == ["xianfeng", "zhongfu"], "by id: {ids:?}");
    ensure!(t.hall("xianfeng").await? == Some(hall("xianfeng")));
    ensure!(t.hall("nowhere").await?.is_none());
    let cal = t
        .doc_owner("cal-xianfeng")
        .await?
        .context("calendar owned")?;
    ensure!(cal.hall_id == "xianfeng" && cal.kind.as_deref() == Some("calendar"));
    ensure!(cal.owner_kiosk.is_none() && !cal.retired);

    let k1 = t.insert_kiosk("xianfeng", "大厅入口", "hash-1", 10).await?;
    let k2 = t.insert_kiosk("xianfeng", "二楼", "hash-2", 11).await?;
    let k3 = t.insert_kiosk("zhongfu", "大厅", "hash-3", 12).await?;
    ensure!(
        [k1.id.as_str(), k2.id.as_str(), k3.id.as_str()]
            == ["xianfeng-k1", "xianfeng-k2", "zhongfu-k1"]
    );
    ensure!(k1.created_ms == 10 && k1.revoked_ms.is_none() && k1.name == "大厅入口");
    ensure!(t.kiosk_by_token_hash("hash-2").await? == Some(k2.clone()));
    ensure!(t.kiosk_by_token_hash("hash-9").await?.is_none());
    ensure!(t.kiosk("zhongfu-k1").await? == Some(k3.clone()));
    let all: Vec<String> = t.kiosks().await?.into_iter().map(|k| k.id).collect();
    ensure!(
        all == ["xianfeng-k1", "xianfeng-k2", "zhongfu-k1"],
        "{all:?}"
    );

    t.touch_kiosk("xianfeng-k1", 20, Some("0.3.0")).await?;
    t.touch_kiosk("xianfeng-k1", 21, None).await?;
    let seen = t.kiosk("xianfeng-k1").await?.context("kiosk")?;
    ensure!(seen.last_seen_ms == Some(21) && seen.app_version.as_deref() == Some("0.3.0"));

    ensure!(t.revoke_kiosk("xianfeng-k2", 30).await?, "revoked");
    ensure!(!t.revoke_kiosk("xianfeng-k2", 31).await?, "already");
    ensure!(t.kiosk("xianfeng-k2").await?.context("kiosk")?.revoked_ms == Some(30));
    match t.revoke_kiosk("xianfeng-k9", 32).await {
        Err(Error::NotFound(_)) => {}
        other => bail!("revoking no kiosk: {other:?}"),
    }
    ensure!(t.revoked_kiosks().await? == ["xianfeng-k2"]);
    // The revoked kiosk's number is not given again.
    let k4 = t.insert_kiosk("xianfeng", "三楼", "hash-4", 40).await?;
    ensure!(k4.id == "xianfeng-k3", "{}", k4.id);
    Ok(())
}

async fn admins_and_sessions(t: &dyn ServerTables) -> anyhow::Result<()> {
    t.insert_admin("wang", "central", 1).await?;
    t.insert_admin("li", "hall_staff", 1).await?;
    match t.insert_admin("wang", "viewer", 2).await {
        Err(Error::Conflict(m)) => ensure!(m.contains("wang"), "{m}"),
        other => bail!("a taken admin name: {other:?}"),
    }
    match t.insert_admin_token("nobody", "tok", 3).await {
        Err(Error::NotFound(_)) => {}
        other => bail!("a token for no admin: {other:?}"),
    }
    t.insert_admin_token("wang", "tok-wang", 3).await?;
    ensure!(
        t.admin_by_token_hash("tok-wang").await?
            == Some(("wang".to_string(), "central".to_string()))
    );
    ensure!(t.admin_by_token_hash("tok-none").await?.is_none());
    match t.set_admin_password("nobody", "h").await {
        Err(Error::NotFound(_)) => {}
        other => bail!("a password for no admin: {other:?}"),
    }
    ensure!(t.admin_login("li").await? == Some(("hall_staff".to_string(), None)));
    t.set_admin_password("li", "hash-li").await?;
    ensure!(
        t.admin_login("li").await? == Some(("hall_staff".to_string(), Some("hash-li".to_string())))
    );
    ensure!(t.admin_login("nobody").await?.is_none());
    t.grant_hall("li", "zhongfu").await?;
    t.grant_hall("li", "zhongfu").await?;
    ensure!(t.admin_halls("li", "hall_staff").await? == ["zhongfu"]);
    ensure!(t.admin_halls("wang", "central").await? == ["xianfeng", "zhongfu"]);

    t.insert_session("s1", "li", "csrf-1", 100, 1_000).await?;
    t.insert_session("s2", "li", "csrf-2", 100, 1_000).await?;
    t.insert_session("s3", "wang", "csrf-3", 100, 1_000).await?;
    let s1 = t.session("s1", 500).await?.context("live")?;
    ensure!(s1.user == "li" && s1.role == "hall_staff" && s1.csrf == "csrf-1");
    ensure!(
        t.session("s1", 1_000).await?.is_none(),
        "expired at its end"
    );
    ensure!(t.session("s9", 500).await?.is_none());
    // A new password ends the admin's other sessions, not this one's.
    ensure!(t.change_password("li", "hash-2", Some("s1")).await? == 1);
    ensure!(t.session("s1", 500).await?.is_some() && t.session("s2", 500).await?.is_none());
    ensure!(
        t.session("s3", 500).await?.is_some(),
        "another admin's stays"
    );
    ensure!(t.change_password("wang", "hash-w", None).await? == 1);
    match t.change_password("nobody", "h", None).await {
        Err(Error::NotFound(_)) => {}
        other => bail!("a new password for no admin: {other:?}"),
    }
    t.delete_session("s1").await?;
    ensure!(t.session("s1", 500).await?.is_none());
    // Starting a session drops those that have expired.
    t.insert_session("s4", "li", "csrf-4", 100, 200).await?;
    t.insert_session("s5", "li", "csrf-5", 300, 1_000).await?;
    ensure!(t.session("s4", 150).await?.is_none(), "dropped");
    t.audit("wang", "grant_hall", "li", None, Some("zhongfu"), 400)
        .await?;
    Ok(())
}

/// Housekeeping: a hall taken back, tokens revoked one or all, an admin
/// removed with all they held; never the last central admin.
async fn removing_admins(t: &dyn ServerTables) -> anyhow::Result<()> {
    t.insert_admin("qian", "viewer", 1).await?;
    t.grant_hall("qian", "xianfeng").await?;
    t.grant_hall("qian", "zhongfu").await?;
    ensure!(t.ungrant_hall("qian", "zhongfu").await?);
    ensure!(!t.ungrant_hall("qian", "zhongfu").await?, "not granted now");
    ensure!(t.admin_halls("qian", "viewer").await? == ["xianfeng"]);
    for tok in ["tok-q1", "tok-q2", "tok-q3"] {
        t.insert_admin_token("qian", tok, 2).await?;
    }
    ensure!(
        t.revoke_admin_tokens(AdminTokens::Hashed("tok-q1"), 3)
            .await?
            == 1
    );
    ensure!(
        t.revoke_admin_tokens(AdminTokens::Hashed("tok-q1"), 4)
            .await?
            == 0,
        "once"
    );
    ensure!(t.admin_by_token_hash("tok-q1").await?.is_none());
    ensure!(t.admin_by_token_hash("tok-q2").await?.is_some());
    ensure!(t.revoke_admin_tokens(AdminTokens::Of("qian"), 5).await? == 2);
    ensure!(t.admin_by_token_hash("tok-q3").await?.is_none());
    ensure!(
        t.admin_by_token_hash("tok-wang").await?.is_some(),
        "another admin's stays"
    );
    t.insert_session("sq", "qian", "csrf-q", 10, 1_000).await?;
    ensure!(
        t.remove_admin("qian").await?
            == RemovedAdmin {
                tokens: 3,
                sessions: 1,
                halls: 1
            }
    );
    ensure!(t.admin_login("qian").await?.is_none() && t.session("sq", 500).await?.is_none());
    match t.remove_admin("qian").await {
        Err(Error::NotFound(_)) => {}
        other => bail!("removing no admin: {other:?}"),
    }
    // wang is the only central admin: kept, and kept able to sign in.
    match t.remove_admin("wang").await {
        Err(Error::Conflict(m)) => ensure!(m.contains("last central admin"), "{m}"),
        other => bail!("removing the last central admin: {other:?}"),
    }
    ensure!(t.admin_login("wang").await?.is_some());
    t.insert_admin("zhou", "central", 6).await?;
    t.remove_admin("zhou").await?;
    Ok(())
}

async fn documents(t: &dyn ServerTables) -> anyhow::Result<()> {
    let owner = t.claim_doc("d1", "xianfeng", "xianfeng-k1", 1_000).await?;
    ensure!(owner.owner_kiosk.as_deref() == Some("xianfeng-k1") && owner.kind.is_none());
    // An earlier claim wins.
    let again = t.claim_doc("d1", "zhongfu", "zhongfu-k1", 1_001).await?;
    ensure!(again.hall_id == "xianfeng" && again.owner_kiosk.as_deref() == Some("xianfeng-k1"));
    ensure!(t.doc_owner("d9").await?.is_none());

    // Together: one known, two new, and a kiosk at its day's limit.
    let claims = t
        .claim_docs(
            &[
                new_doc("d1", "zhongfu", "zhongfu-k1"),
                new_doc("d2", "zhongfu", "zhongfu-k1"),
                new_doc("d3", "zhongfu", "zhongfu-k1"),
                new_doc("d4", "zhongfu", "zhongfu-k1"),
            ],
            2,
            2_000,
        )
        .await;
    let claims: Vec<Claim> = claims.into_iter().collect::<Result<_, _>>()?;
    ensure!(
        claims
            == [
                Claim::Known,
                Claim::Claimed,
                Claim::Claimed,
                Claim::OverLimit
            ],
        "{claims:?}"
    );
    ensure!(t.docs_claimed_since("zhongfu-k1", 0).await? == 2);
    ensure!(t.docs_claimed_since("zhongfu-k1", 3_000).await? == 0);
    // A day later the kiosk may create documents again.
    let later = t
        .claim_docs(
            &[new_doc("d4", "zhongfu", "zhongfu-k1")],
            2,
            2_000 + 86_400_001,
        )
        .await;
    ensure!(
        matches!(later.as_slice(), [Ok(Claim::Claimed)]),
        "{later:?}"
    );
    // A document delivered twice in one batch is claimed once.
    let twice = t
        .claim_docs(
            &[
                new_doc("d5", "xianfeng", "xianfeng-k1"),
                new_doc("d5", "xianfeng", "xianfeng-k3"),
            ],
            24,
            3_000,
        )
        .await;
    ensure!(
        matches!(twice.as_slice(), [Ok(Claim::Claimed), Ok(Claim::Known)]),
        "{twice:?}"
    );
    ensure!(
        t.doc_owner("d5")
            .await?
            .and_then(|o| o.owner_kiosk)
            .as_deref()
            == Some("xianfeng-k1")
    );
    ensure!(t.kiosk_documents().await? == ["d1", "d2", "d3", "d4", "d5"]);
    Ok(())
}
