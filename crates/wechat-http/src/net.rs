//! Outbound HTTP for URL downloads, kept away from networks it must not reach
//! (`media.deny_networks`): every address a name resolves to is checked, IP-literal URLs are
//! checked before connecting, and every redirect hop is checked again. A refusal never says
//! whether anything listens there.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// An IPv4 or IPv6 network, `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fe80::/10` or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("{s:?} is not a network like 10.0.0.0/8 or fe80::/10"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a prefix length that is not 0-{max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// True when `ip` is inside (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The denied networks.
#[derive(Clone, Debug, Default)]
pub struct DenyList(Arc<Vec<Cidr>>);

impl DenyList {
    /// From `media.deny_networks` (validated with the config).
    pub fn new(networks: &[String]) -> Self {
        Self(Arc::new(networks.iter().filter_map(|n| Cidr::parse(n).ok()).collect()))
    }

    /// True when `ip` may not be reached.
    pub fn denies(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

/// The error a refused address produces inside reqwest; found again by [`is_denied`].
#[derive(Debug)]
pub struct Denied;

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the address is in media.deny_networks")
    }
}

impl std::error::Error for Denied {}

/// True when `e` (or one of its causes) is a [`Denied`] refusal.
pub fn is_denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<Denied>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A DNS resolver that drops denied addresses (and fails when nothing is left).
struct GuardedResolver {
    deny: DenyList,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.deny.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| !deny.denies(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(Denied) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// True when the URL's host is an IP literal inside the deny list.
pub fn url_denied(url: &reqwest::Url, deny: &DenyList) -> bool {
    url.host_str()
        .and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok())
        .is_some_and(|ip| deny.denies(ip))
}

/// An HTTP client for URL downloads that never reaches `deny` (no proxies, at most 5
/// redirects, each checked).
pub fn guarded_client(
    deny: DenyList,
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    let redirects = deny.clone();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("wechat-http/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { deny }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects (more than 5)")
            } else if url_denied(attempt.url(), &redirects) {
                attempt.error(Denied)
            } else {
                attempt.follow()
            }
        }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_v4_v6_and_mapped() {
        let ll = Cidr::parse("169.254.0.0/16").unwrap();
        assert!(ll.contains("169.254.169.254".parse().unwrap()));
        assert!(!ll.contains("169.255.0.1".parse().unwrap()));
        assert!(ll.contains("::ffff:169.254.1.1".parse().unwrap()), "IPv4-mapped counts");
        let v6 = Cidr::parse("fe80::/10").unwrap();
        assert!(v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("100.100.100.200").unwrap().contains("100.100.100.200".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let deny = DenyList::new(&["127.0.0.0/8".into()]);
        assert!(url_denied(&"http://127.0.0.1:9/x".parse().unwrap(), &deny));
        assert!(!url_denied(&"http://example.com/x".parse().unwrap(), &deny));
    }
}
