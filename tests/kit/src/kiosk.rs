//! Kiosks for scenarios: a paired [`KioskNode`] on its own temp dir
//! ([`TestKiosk`]) and a bare samod peer with a kiosk token for hostile
//! and foreign-client scenarios ([`RawPeer`]).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, anyhow, bail};
use linli_core::{
    KioskNode, KioskNodeOptions,
    node::{
        CheckInOutcome, NewCheckIn, ResidentInput,
        dialer::{DialFailure, KioskDialer},
    },
    phone::PhoneNumber,
    protocol,
};
use samod::{BackoffConfig, DialerHandle, PeerId, Repo};
use tempfile::TempDir;

use crate::server::TestServer;

/// A paired kiosk node on its own temp dir.
pub struct TestKiosk {
    /// The node (None while "powered off").
    pub node: Option<KioskNode>,
    /// The kiosk's id.
    pub id: String,
    /// Its token.
    pub token: String,
    dir: TempDir,
}

/// A distinct valid phone number for (seed, i).
pub fn test_phone(seed: u32, i: usize) -> anyhow::Result<PhoneNumber> {
    let n = (u64::from(seed) * 1_000_000 + i as u64) % 100_000_000;
    Ok(PhoneNumber::parse(&format!("139{n:08}"))?)
}

/// Options tuned for tests: quick reconnects.
pub fn test_options(dir: &std::path::Path) -> KioskNodeOptions {
    let mut o = KioskNodeOptions::new(dir);
    o.backoff = BackoffConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_retries: None,
    };
    o
}

impl TestKiosk {
    /// Provision a kiosk in `hall` through the API and pair it. With
    /// `online` false it records offline until [`KioskNode::go_online`].
    pub async fn pair(server: &TestServer, hall: &str, online: bool) -> anyhow::Result<Self> {
        let (id, token) = server.api.add_kiosk(hall, "测试终端").await?;
        let dir = tempfile::tempdir()?;
        let mut options = test_options(dir.path());
        options.connect = online;
        let node = KioskNode::pair(options, &server.url, &token).await?;
        Ok(Self {
            node: Some(node),
            id,
            token,
            dir,
        })
    }

    /// Wrap an already paired node.
    pub fn from_parts(node: KioskNode, id: String, token: String, dir: TempDir) -> Self {
        Self {
            node: Some(node),
            id,
            token,
            dir,
        }
    }

    /// The node; panics in a test if powered off.
    pub fn node(&self) -> &KioskNode {
        self.node.as_ref().expect("kiosk is powered off")
    }

    /// The kiosk's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Record `n` named check-ins with distinct phone numbers (distinct
    /// across seeds below 100 and `n` below 1,000,000).
    pub async fn record_checkins(&self, activity: &str, n: usize, seed: u32) -> anyhow::Result<()> {
        for i in 0..n {
            let phone = test_phone(seed, i)?;
            let outcome = self
                .node()
                .record_checkin(NewCheckIn {
                    activity_id: activity.to_string(),
                    resident: Some(ResidentInput { phone, name: None }),
                    headcount: 1,
                    companions: 0,
                })
                .await?;
            if outcome == CheckInOutcome::AlreadyCheckedIn {
                bail!("check-in {i} of seed {seed} was taken for a duplicate");
            }
        }
        Ok(())
    }

    /// Shut the node down (as at power off); its files stay.
    pub async fn power_off(&mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
    }

    /// Open the node again from its files.
    pub async fn power_on(&mut self, online: bool) -> anyhow::Result<()> {
        let mut options = test_options(self.dir.path());
        options.connect = online;
        self.node = Some(KioskNode::open(options).await?);
        Ok(())
    }
}

/// A bare samod peer that dials the server with a kiosk token, for
/// hostile-client scenarios.
pub struct RawPeer {
    /// Its repo.
    pub repo: Repo,
    /// Its dialer.
    pub dialer: DialerHandle<DialFailure>,
}

impl RawPeer {
    /// Connect with `token`, claiming `peer_id`, with in-memory storage.
    pub async fn connect(server: &TestServer, token: &str, peer_id: &str) -> anyhow::Result<Self> {
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(peer_id))
            .load()
            .await;
        Self::dial(server, token, repo).await
    }

    /// Connect with `token`, claiming `peer_id`, over prepared `storage`
    /// (e.g. holding a forged copy of someone else's document).
    pub async fn connect_with_storage(
        server: &TestServer,
        token: &str,
        peer_id: &str,
        storage: linli_core::storage::SqliteStorage,
    ) -> anyhow::Result<Self> {
        let repo = Repo::build_tokio()
            .with_peer_id(PeerId::from(peer_id))
            .with_storage(storage)
            .load()
            .await;
        Self::dial(server, token, repo).await
    }

    async fn dial(server: &TestServer, token: &str, repo: Repo) -> anyhow::Result<Self> {
        let config =
            protocol::fetch_kiosk_config(&server.url, token, &linli_core::tls::Trust::default())
                .await?;
        let url = protocol::sync_url(&server.url)?;
        let dialer = dial(&repo, &url, token, &config.server_peer_id).await?;
        Ok(Self { repo, dialer })
    }
}

/// Dial the server at `url` from `repo` with a kiosk `token`, as a kiosk
/// does (quick retries), and wait until the connection is established.
pub async fn dial(
    repo: &Repo,
    url: &url::Url,
    token: &str,
    server_peer_id: &str,
) -> anyhow::Result<DialerHandle<DialFailure>> {
    let dialer = KioskDialer::new(url.clone(), token.to_string(), PeerId::from(server_peer_id));
    let dialer = repo.dial(
        BackoffConfig {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
            max_retries: Some(20),
        },
        Arc::new(dialer),
    )?;
    tokio::time::timeout(Duration::from_secs(60), dialer.established())
        .await
        .context("connecting")?
        .map_err(|e| anyhow!("connecting: {e}"))?;
    Ok(dialer)
}
