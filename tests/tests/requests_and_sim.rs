//! A request made at a kiosk reaches the server, the staff reply reaches
//! the kiosk; and `linli-sim` as an operator runs it.

use std::{process::Command, time::Duration};

use linli_core::{
    model::{RequestCategory, RequestStatus, ShiftAction},
    node::ResidentInput,
};
use linli_test_kit::Store;
use linli_test_kit::{TestKiosk, TestServer, eventually, init_logging, test_phone};

const WAIT: Duration = Duration::from_secs(20);

async fn a_staff_reply_reaches_the_residents_kiosk(store: Store) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let phone = test_phone(1, 1)?;
    let id = kiosk
        .node()
        .record_request(
            RequestCategory::Repair,
            "3号楼楼道灯坏了".into(),
            Some(ResidentInput {
                phone: phone.clone(),
                name: Some("李阿姨".into()),
            }),
            true,
        )
        .await?;
    let list = eventually(WAIT, "the request on the server", || async {
        let v = server.api.get("api/v1/halls/xianfeng/requests").await?;
        Ok((v.as_array().map(Vec::len) == Some(1)).then_some(v))
    })
    .await?;
    assert_eq!(list[0]["id"], id.to_string().as_str());
    assert_eq!(list[0]["reference"], id.short_reference().as_str());
    assert_eq!(list[0]["status"], "received");
    assert_eq!(list[0]["phone_masked"], phone.masked().as_str());
    assert!(!list.to_string().contains(phone.expose_digits()));

    let (status, body) = server
        .api
        .post(
            &format!("api/v1/halls/xianfeng/requests/{id}/reply"),
            &serde_json::json!({ "status": "resolved", "reply": "已安排物业更换，谢谢反映" }),
        )
        .await?;
    assert_eq!(status, 204, "{body}");
    let mine = eventually(WAIT, "the reply on the kiosk", || async {
        let mine = kiosk.node().my_requests(&phone).await?;
        Ok((mine.first().map(|r| r.status) == Some(RequestStatus::Resolved)).then_some(mine))
    })
    .await?;
    assert_eq!(mine[0].reply.as_deref(), Some("已安排物业更换，谢谢反映"));
    assert_eq!(mine[0].reference, id.short_reference());
    // Someone else's number sees nothing.
    assert!(
        kiosk
            .node()
            .my_requests(&test_phone(2, 2)?)
            .await?
            .is_empty()
    );
    // The projection follows the reply too.
    eventually(WAIT, "the projected status", || async {
        let v = server
            .api
            .get("api/v1/halls/xianfeng/requests?status=resolved")
            .await?;
        Ok((v.as_array().map(Vec::len) == Some(1)).then_some(()))
    })
    .await?;
    // A reply to a request that does not exist is a 404, not a 500.
    let (status, _) = server
        .api
        .post(
            "api/v1/halls/xianfeng/requests/nope/reply",
            &serde_json::json!({ "status": "resolved" }),
        )
        .await?;
    assert_eq!(status, 404);
    let (status, _) = server
        .api
        .post(
            &format!("api/v1/halls/xianfeng/requests/{id}/reply"),
            &serde_json::json!({ "status": "lost" }),
        )
        .await?;
    assert_eq!(status, 400);
    Ok(())
}

async fn ratings_and_volunteer_shifts_are_recorded_and_validated(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let kiosk = TestKiosk::pair(&server, "xianfeng", true).await?;
    let node = kiosk.node();
    node.record_rating("act-1", 5, Some("teacher_good".into()))
        .await?;
    assert!(
        node.record_rating("act-1", 6, None).await.is_err(),
        "six smileys"
    );
    let volunteer = ResidentInput {
        phone: test_phone(3, 3)?,
        name: None,
    };
    let shift = node
        .record_shift(
            volunteer.clone(),
            ShiftAction::SignIn,
            None,
            Some("act-patrol".into()),
        )
        .await?;
    node.record_shift(
        volunteer.clone(),
        ShiftAction::SignOut,
        Some(shift.to_string()),
        None,
    )
    .await?;
    assert!(
        node.record_shift(volunteer, ShiftAction::SignOut, None, None)
            .await
            .is_err()
    );
    node.wait_synced(WAIT).await?;
    eventually(WAIT, "ratings and shift events projected", || async {
        let counts = server
            .sql_strings(
                "SELECT CAST((SELECT count(*) FROM ratings) AS TEXT) || ' '
                     || CAST((SELECT count(*) FROM shift_events) AS TEXT)",
            )
            .await?;
        Ok((counts == ["1 2"]).then_some(()))
    })
    .await?;
    Ok(())
}

async fn linli_sim_reports_every_record_and_fails_on_a_bad_token(
    store: Store,
) -> anyhow::Result<()> {
    init_logging();
    let server = TestServer::start_on(store).await?;
    let url = server.url.to_string();
    let token = server.api.token.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_linli-sim"))
            .args([
                "--server",
                &url,
                "--admin-token",
                &token,
                "--hall",
                "xianfeng",
                "--kiosks",
                "3",
                "--checkins",
                "40",
                "--offline-first",
            ])
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("kiosks=3 sent=120 seen=120 seconds="),
        "{stdout}"
    );
    assert!(stdout.contains("bytes_sent="), "{stdout}");
    assert_eq!(server.api.checkin_count("xianfeng").await?, 120);

    let url = server.url.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_linli-sim"))
            .args([
                "--server",
                &url,
                "--admin-token",
                "la_wrong",
                "--hall",
                "xianfeng",
            ])
            .output()
    })
    .await??;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    Ok(())
}

linli_test_kit::on_both_stores! {
    a_staff_reply_reaches_the_residents_kiosk,
    linli_sim_reports_every_record_and_fails_on_a_bad_token,
    ratings_and_volunteer_shifts_are_recorded_and_validated,
}
