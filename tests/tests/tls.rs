//! HTTPS/WSS end to end with a self-signed CA made for the test: the
//! server serves `--tls-cert/--tls-key` with rustls; a kiosk that pins the
//! CA pairs over https:// and syncs over wss://; a kiosk trusting only the
//! public roots, or another CA, is refused with a clear error; a wrong key
//! file stops the server before it listens; a silent socket does not stop
//! others from connecting.

use std::{path::Path, time::Duration};

use linli_core::{
    KioskNode,
    node::{NewCheckIn, ResidentInput},
    tls::Trust,
};
use linli_sync_server::ServeConfig;
use linli_test_kit::{eventually, init_logging, test_options, test_phone};
use linli_web::tls::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::{net::TcpListener, sync::oneshot};

/// A CA, and a server certificate it issued for localhost and 127.0.0.1.
struct Pki {
    ca_pem: String,
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
    let dir = tempfile::tempdir()?;
    let files = write_files(dir.path(), pki)?;
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
