//! HTTPS/WSS end to end with a self-signed CA made for the test: the
//! server serves `--tls-cert/--tls-key` with rustls; a kiosk that pins the
//! CA pairs over https:// and syncs over wss://; a kiosk trusting only the
//! public roots, or another CA, is refused with a clear error; a wrong key
//! file stops the server before it listens; a silent socket does not stop
//! others from connecting.
//!
//! Pairing by the console's link (issue 17): over TLS the console's link
//! is `https://` and carries the CA's fingerprint; the real kiosk app,
//! given it as a QR scanner types it, pins the CA it finds in the
//! server's chain and syncs, at every later start too, with no `--ca`; a
//! link with a wrong fingerprint is refused with the reason and nothing
//! is stored. Without TLS the console's link is plain `http://`.

use std::{path::Path, time::Duration};

use egui_kittest::Harness;
use linli_core::{
    KioskNode,
    node::{NewCheckIn, PINNED_CA_FILE, ResidentInput},
    tls::{Fingerprint, Trust},
};
use linli_kiosk::app::{KioskApp, Screen};
use linli_sync_server::ServeConfig;
use linli_test_kit::{TestServer, eventually, init_logging, test_options, test_phone};
use linli_web::tls::TlsFiles;

mod kiosk_ui;
use kiosk_ui::{shows, step_until};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::{net::TcpListener, sync::oneshot};

/// A CA, and a server certificate it issued for localhost and 127.0.0.1.
struct Pki {
    ca_pem: String,
    ca_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

fn make_pki(name: &str) -> anyhow::Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

struct TlsServer {
    url: url::Url,
    core: std::sync::Arc<linli_sync_engine::ServerCore>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<linli_sync_engine::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start(pki: &Pki) -> anyhow::Result<TlsServer> {
    start_serving(pki, &pki.cert_pem).await
}

/// A server serving `chain_pem` (its certificate, and the CA's after it
/// when the chain is whole) with `pki`'s key.
async fn start_serving(pki: &Pki, chain_pem: &str) -> anyhow::Result<TlsServer> {
    let dir = tempfile::tempdir()?;
    let files = write_files(dir.path(), pki)?;
    std::fs::write(&files.cert, chain_pem)?;
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.tls = Some(files);
    let ready = linli_sync_server::prepare(&config).await?;
    let core = ready.core.clone();
    linli_sync_engine::provision::add_hall(&core, "xianfeng", "先锋社区", "Asia/Shanghai").await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(linli_sync_server::serve(ready, listener, async move {
        let _ = stopped.await;
    }));
    Ok(TlsServer {
        url: format!("https://localhost:{port}/").parse()?,
        core,
        stop: Some(stop),
        task,
        _dir: dir,
    })
}

fn write_files(dir: &Path, pki: &Pki) -> anyhow::Result<TlsFiles> {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, &pki.cert_pem)?;
    std::fs::write(&key, &pki.key_pem)?;
    Ok(TlsFiles { cert, key })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_pinning_the_ca_syncs_over_wss_and_others_are_refused() -> anyhow::Result<()> {
    init_logging();
    let pki = make_pki("Linli Test CA")?;
    let mut server = start(&pki).await?;
    let (_, token) =
        linli_sync_engine::provision::add_kiosk(&server.core, "xianfeng", "大厅一号").await?;

    // Trusting only the public roots: the test CA is unknown, pairing fails
    // and says why; nothing is stored.
    let dir = tempfile::tempdir()?;
    let err = KioskNode::pair(test_options(dir.path()), &server.url, &token)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // Pinning another CA: refused too.
    let other = make_pki("Some Other CA")?;
    let mut options = test_options(dir.path());
    options.trust = Trust::pinned_ca(other.ca_pem.as_bytes())?;
    assert!(KioskNode::pair(options, &server.url, &token).await.is_err());
    // A CA file that is not a certificate is a clear error.
    assert!(Trust::pinned_ca(b"not a certificate").is_err());

    // Pinning the right CA: pairs over https, syncs over wss.
    let mut options = test_options(dir.path());
    options.trust = Trust::pinned_ca(pki.ca_pem.as_bytes())?;
    let node = KioskNode::pair(options, &server.url, &token).await?;
    node.go_online()?;
    for i in 0..3 {
        node.record_checkin(NewCheckIn {
            activity_id: "tls-activity".into(),
            resident: Some(ResidentInput {
                phone: test_phone(7, i)?,
                name: None,
            }),
            companions: 0,
            headcount: 1,
        })
        .await?;
    }
    let core = server.core.clone();
    eventually(Duration::from_secs(20), "3 check-ins over wss", || {
        let core = core.clone();
        async move {
            let n: i64 = core
                .sqlite("a test query")
                .expect("the SQLite store")
                .run(|c| {
                    c.query_row("SELECT count(*) FROM checkins", [], |r| r.get(0))
                        .map_err(|e| linli_sync_engine::Error::db("counting", e))
                })
                .await?;
            Ok((n == 3).then_some(()))
        }
    })
    .await?;

    // Plain HTTP to the TLS port gets no page.
    let plain = format!(
        "http://127.0.0.1:{}/healthz",
        server.url.port().unwrap_or(0)
    );
    assert!(
        !reqwest::get(&plain)
            .await
            .is_ok_and(|r| r.status().is_success())
    );

    // A socket that never says anything does not keep others out, and the
    // console's Secure cookie is now usable over https.
    let _silent =
        tokio::net::TcpStream::connect(("127.0.0.1", server.url.port().unwrap_or(0))).await?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls((*Trust::pinned_ca(pki.ca_pem.as_bytes())?.client_config()).clone())
        .build()?;
    let health = client.get(server.url.join("healthz")?).send().await?;
    assert_eq!(health.status(), 200);

    node.shutdown().await;
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    tokio::time::timeout(Duration::from_secs(15), &mut server.task).await???;
    Ok(())
}

#[tokio::test]
async fn a_key_that_does_not_fit_stops_the_server_before_it_listens() -> anyhow::Result<()> {
    let pki = make_pki("Linli Test CA")?;
    let other = make_pki("Linli Test CA")?;
    let dir = tempfile::tempdir()?;
    let files = write_files(dir.path(), &pki)?;
    std::fs::write(&files.key, &other.key_pem)?;
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.tls = Some(files.clone());
    let err = linli_sync_server::prepare(&config)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("does not fit"), "{err}");
    // A certificate file with no certificate in it.
    std::fs::write(&files.cert, "hello")?;
    let err = linli_sync_server::prepare(&config)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("no certificate"), "{err}");
    Ok(())
}

/// An admin signs in to the console over https (their browser trusting
/// the office CA), provisions a kiosk of `xianfeng`, and copies the
/// pairing link shown under the QR code, as a person would; with the
/// whole page.
async fn link_from_console(
    base: &url::Url,
    core: &linli_sync_engine::ServerCore,
    http: reqwest::Client,
) -> anyhow::Result<(String, String)> {
    linli_sync_engine::provision::add_admin(core, "it", "central").await?;
    let hash = linli_sync_engine::accounts::hash_password("good password")?;
    core.tables.set_admin_password("it", &hash).await?;
    let login = http
        .post(base.join("admin/login")?)
        .form(&[("user", "it"), ("password", "good password")])
        .send()
        .await?;
    anyhow::ensure!(login.status() == 303, "sign-in: {}", login.status());
    let cookie = login.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = http
        .get(base.join("admin/kiosks")?)
        .header("cookie", &cookie)
        .send()
        .await?
        .text()
        .await?;
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"")?;
    let page = http
        .post(base.join("admin/kiosks")?)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("hall", "xianfeng"),
            ("name", "大厅入口"),
        ])
        .send()
        .await?
        .text()
        .await?;
    let link = between(&page, "<code class=\"pairing-link\">", "</code>")?.replace("&amp;", "&");
    Ok((link, page))
}

fn between(text: &str, start: &str, end: &str) -> anyhow::Result<String> {
    text.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no {start:?} in the page"))
}

/// A server serving `pki`'s chain as `tls init` writes it (leaf, then CA),
/// and the pairing link and the page its console shows an admin whose
/// browser trusts the CA.
fn serve_and_provision(
    rt: &tokio::runtime::Runtime,
    pki: &Pki,
) -> anyhow::Result<(TlsServer, String, String)> {
    let server = rt.block_on(start_serving(
        pki,
        &format!("{}{}", pki.cert_pem, pki.ca_pem),
    ))?;
    let browser = no_redirects()
        .use_preconfigured_tls((*Trust::pinned_ca(pki.ca_pem.as_bytes())?.client_config()).clone())
        .build()?;
    let (link, page) = rt.block_on(link_from_console(&server.url, &server.core, browser))?;
    Ok((server, link, page))
}

fn no_redirects() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// An unpaired kiosk app on its pairing screen, storing in `dir`.
fn pairing_screen(dir: &Path) -> Harness<'static, KioskApp> {
    let app = KioskApp::unpaired(
        test_options(dir),
        std::sync::Arc::new(|| chrono::Utc::now().timestamp_millis()),
        chrono_tz::Asia::Shanghai,
        std::sync::Arc::new(|| {}),
    );
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut KioskApp| app.show(ui), app);
    h.run_steps(3);
    h
}

/// A USB QR scanner reads `link` into the focused server field and
/// presses Enter; staff then type a new PIN on the keyboard and Enter.
fn scan_link_and_set_pin(h: &mut Harness<'_, KioskApp>, link: &str) {
    for c in link.chars() {
        h.event(egui::Event::Text(c.to_string()));
    }
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    h.event(egui::Event::Text("2468".into()));
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
}

async fn checkins(core: &linli_sync_engine::ServerCore) -> anyhow::Result<i64> {
    Ok(core
        .sqlite("a test query")?
        .run(|c| {
            c.query_row("SELECT count(*) FROM checkins", [], |r| r.get(0))
                .map_err(|e| linli_sync_engine::Error::db("counting", e))
        })
        .await?)
}

/// Open the kiosk in `dir` as its program does at a later start: no
/// `--ca`, the default trust. Record one check-in and wait until the
/// server has `want`.
async fn restart_and_check_in(
    dir: &Path,
    core: &std::sync::Arc<linli_sync_engine::ServerCore>,
    want: i64,
) -> anyhow::Result<()> {
    let options = test_options(dir);
    assert!(!options.trust.is_pinned(), "no --ca at this start");
    let node = KioskNode::open(options).await?;
    node.go_online()?;
    node.record_checkin(NewCheckIn {
        activity_id: "tls-activity".into(),
        resident: Some(ResidentInput {
            phone: test_phone(9, usize::try_from(want)?)?,
            name: None,
        }),
        companions: 0,
        headcount: 1,
    })
    .await?;
    let core = core.clone();
    eventually(Duration::from_secs(20), "the check-in over wss", || {
        let core = core.clone();
        async move { Ok((checkins(&core).await? == want).then_some(())) }
    })
    .await?;
    node.shutdown().await;
    Ok(())
}

#[test]
fn a_kiosk_paired_by_the_consoles_https_link_pins_the_ca_and_syncs_at_every_start()
-> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Runtime::new()?;
    let pki = make_pki("Linli Test CA")?;
    // The chain as `linli-server tls init` writes server.crt: leaf, then CA.
    let (mut server, link, page) = serve_and_provision(&rt, &pki)?;

    // The console's link: https, the token, the CA's fingerprint; the
    // fingerprint in words under it, as `tls init` prints it.
    let ca = Fingerprint::of(&pki.ca_der);
    let port = server.url.port().unwrap_or(0);
    assert!(
        link.starts_with(&format!("https://localhost:{port}/#linli-pair?token=")),
        "{link}"
    );
    assert!(
        link.ends_with(&format!("&ca={}", ca.to_link_form())),
        "{link}"
    );
    assert!(
        page.contains(&ca.to_colon_hex()),
        "the fingerprint in words"
    );

    // The kiosk: the link scanned into the pairing screen, a PIN, Enter.
    let dir = tempfile::tempdir()?;
    let mut h = pairing_screen(dir.path());
    scan_link_and_set_pin(&mut h, &link);
    step_until(&mut h, "the paired kiosk's start screen", |h| {
        h.state().screen == Screen::Start
    })?;
    drop(h);
    // It pinned the CA (found in the chain the server presented), not the
    // server's own certificate, in its data directory.
    assert_eq!(
        std::fs::read_to_string(dir.path().join(PINNED_CA_FILE))?,
        linli_core::tls::certificate_pem(&pki.ca_der)
    );

    // Started again without --ca, twice: each start syncs its check-in.
    rt.block_on(restart_and_check_in(dir.path(), &server.core, 1))?;
    rt.block_on(restart_and_check_in(dir.path(), &server.core, 2))?;

    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(15), &mut server.task).await })???;
    Ok(())
}

#[test]
fn a_link_with_a_wrong_fingerprint_refuses_to_pair_says_why_and_stores_nothing()
-> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Runtime::new()?;
    let pki = make_pki("Linli Test CA")?;
    let (server, link, _) = serve_and_provision(&rt, &pki)?;

    // Someone in between (or a wrong address): the server presents no
    // certificate with the link's fingerprint. Pairing is refused on the
    // pairing screen, with the reason, before the token is sent; nothing
    // is stored and the form keeps the link.
    let other = Fingerprint::of(&make_pki("Some Other CA")?.ca_der);
    let right = link
        .split("&ca=")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no ca= in {link}"))?
        .to_string();
    let wrong = link.replace(&right, &other.to_link_form());
    let dir = tempfile::tempdir()?;
    let mut h = pairing_screen(dir.path());
    scan_link_and_set_pin(&mut h, &wrong);
    step_until(&mut h, "the refusal", |h| {
        shows(h, "presented no certificate with the fingerprint")
    })?;
    assert!(
        shows(&h, &other.to_colon_hex()),
        "the fingerprint it looked for"
    );
    assert!(matches!(&h.state().screen, Screen::Pair(form) if form.server == wrong));
    assert!(!dir.path().join(PINNED_CA_FILE).exists());
    assert!(!rt.block_on(KioskNode::is_provisioned(dir.path()))?);
    assert_eq!(rt.block_on(checkins(&server.core))?, 0);

    // A link whose fingerprint is garbled (cut short when typed): refused
    // at the Enter after it, before anything is sent, saying the link
    // cannot be used and why.
    let cut = &link[..link.len() - 10];
    let mut h = pairing_screen(dir.path());
    scan_link_and_set_pin(&mut h, cut);
    h.run_steps(2);
    assert!(shows(&h, "配对链接无法识别"));
    assert!(shows(&h, "64 hex digits"));
    assert!(!dir.path().join(PINNED_CA_FILE).exists());

    // The right link then pairs into the same, still empty, directory.
    let mut h = pairing_screen(dir.path());
    scan_link_and_set_pin(&mut h, &link);
    step_until(&mut h, "the paired kiosk's start screen", |h| {
        h.state().screen == Screen::Start
    })?;
    assert!(dir.path().join(PINNED_CA_FILE).exists());
    Ok(())
}

#[test]
fn without_tls_the_consoles_link_is_plain_http_with_no_fingerprint() -> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(TestServer::start())?;
    let core = server.core()?;
    let (link, page) = rt.block_on(link_from_console(
        &server.url,
        &core,
        no_redirects().build()?,
    ))?;
    let host = server.url.host_str().unwrap_or_default();
    let port = server.url.port().unwrap_or(0);
    assert!(
        link.starts_with(&format!("http://{host}:{port}/#linli-pair?token=lk_")),
        "{link}"
    );
    assert!(!link.contains("ca="), "{link}");
    assert!(!page.contains("SHA-256"), "no fingerprint without TLS");
    // And the kiosk reads it as a server and a token.
    let read = linli_core::pairing_link::PairingLink::parse(&link)?;
    assert_eq!(read.server.as_str(), server.url.as_str());
    assert!(read.token.is_some_and(|t| page.contains(&t)));
    Ok(())
}
