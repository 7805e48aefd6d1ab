//! Which address a request comes from, behind reverse proxies.
//!
//! Per-address limits ([`linli_sync_engine::limits`]) count the client's address. A
//! server behind an HTTPS reverse proxy sees only the proxy's address on
//! the TCP connection; the proxy names the client in `X-Forwarded-For`.
//! That header is whatever the sender wrote, so it is believed only when
//! the TCP peer is one of the operator's `trusted_proxies` (IP addresses
//! or CIDR blocks: `serve --trusted-proxies`, `LINLI_TRUSTED_PROXIES`,
//! the config file). Then the client is the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy: each proxy
//! appends the address it received the request from, so everything left
//! of the first untrusted hop may have been written by the client. With
//! no trusted proxies (the default), or a peer that is not one, the
//! header is ignored and the TCP peer is the client.
//!
//! Every trusted hop in the header and a peer that sent none: the
//! left-most address (all are the operator's own). An entry that is not
//! an address (`unknown`, an obfuscated name) stops the walk at the last
//! trusted hop, which is then counted as the client.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use axum::http::HeaderMap;

use linli_sync_engine::{Error, Result};

/// One trusted address or block, like `10.0.0.0/8`, `::1` or `fd00::/8`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this block (IPv4-mapped IPv6 addresses count
    /// as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::BadRequest(format!(
                "trusted proxy {s:?} is not an IP address or a block like 10.0.0.0/8"
            ))
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parse addresses and blocks as the settings give them.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<_>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client of a request that arrived from `peer` with `headers`
    /// (see the module docs).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// `203.0.113.7`, `2001:db8::1`, `203.0.113.7:4711` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let net: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let one: Cidr = "192.0.2.1".parse().expect("cidr");
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let v6: Cidr = "fd00::/8".parse().expect("cidr");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains(ip("203.0.113.9")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "proxy.local",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).expect("proxies");
        let h = xff(&["203.0.113.7"]);
        assert_eq!(none.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        assert_eq!(
            proxies.client(ip("198.51.100.2"), &h),
            ip("198.51.100.2"),
            "an untrusted peer cannot name someone else"
        );
        assert_eq!(proxies.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &h),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1"),
            "no header: the proxy itself"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).expect("proxies");
        let peer = ip("127.0.0.1");
        // The client wrote a fake first entry; the proxies appended the rest.
        let h = xff(&["6.6.6.6, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(proxies.client(peer, &h), ip("203.0.113.7"));
        // The same hops over several header lines, in order.
        let h = xff(&["6.6.6.6", "203.0.113.7", "10.0.0.2"]);
        assert_eq!(proxies.client(peer, &h), ip("203.0.113.7"));
        // Ports and IPv6.
        let h = xff(&["[2001:db8::5]:4711, 10.0.0.2:80"]);
        assert_eq!(proxies.client(peer, &h), ip("2001:db8::5"));
        // Every hop trusted: the left-most.
        let h = xff(&["10.0.0.7, 10.0.0.2"]);
        assert_eq!(proxies.client(peer, &h), ip("10.0.0.7"));
        // Garbage stops the walk at the last trusted hop.
        let h = xff(&["203.0.113.7, unknown, 10.0.0.2"]);
        assert_eq!(proxies.client(peer, &h), ip("10.0.0.2"));
        let h = xff(&["not an address"]);
        assert_eq!(proxies.client(peer, &h), peer);
        let h = xff(&[" , ,"]);
        assert_eq!(proxies.client(peer, &h), peer);
    }
}
