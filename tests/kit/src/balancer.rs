//! A real HAProxy (Debian's `haproxy`, installed by the system-deps
//! script) in front of several server instances, as a district runs them:
//! started by the test on a free loopback port with a configuration of its
//! own in a temporary directory, stopped when dropped. It checks each
//! instance's `/readyz` every 300 ms and sends a connection that an
//! instance refuses to another one, so a killed instance's kiosks land on
//! a living one when they reconnect.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use tempfile::TempDir;
use url::Url;

/// A running HAProxy.
pub struct Balancer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://addr/`.
    pub url: Url,
    child: Child,
    _dir: TempDir,
}

/// The `haproxy` executable: on the `PATH`, or where Debian puts it
/// (`/usr/sbin` is not on every user's `PATH`).
fn haproxy_bin() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("haproxy"));
    on_path
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file())
        .context("haproxy is not installed: run scripts/install-system-deps.sh")
}

/// The configuration for `backends`, listening on `addr`.
fn config(addr: SocketAddr, backends: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option redispatch
    retries 3
frontend linli
    bind {addr}
    default_backend instances
backend instances
    balance roundrobin
    option httpchk GET /readyz
"
    );
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!(
            "    server instance{i} {b} check inter 300ms fall 1 rise 2\n"
        ));
    }
    cfg
}

impl Balancer {
    /// Start HAProxy in front of `backends` on a free loopback port.
    pub fn start(backends: &[SocketAddr]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config(addr, backends))?;
        let child = Command::new(haproxy_bin()?)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting haproxy")?;
        let mut balancer = Balancer {
            addr,
            url: Url::parse(&format!("http://{addr}/"))?,
            child,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(balancer);
            }
            if let Some(status) = balancer.child.try_wait()? {
                bail!(
                    "haproxy exited at start ({status}); its configuration:\n{}",
                    config(addr, backends)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = balancer.child.kill();
        bail!("haproxy did not listen on {addr} within 5 s")
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
