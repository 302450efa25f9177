//! Where HTTP notifications may go. A rule's webhook URL is chosen by whoever writes the rule, so
//! without a guard the server would POST wherever it is told: to the cloud's instance metadata
//! (`169.254.169.254`, credentials included) or to services only the server can reach.
//!
//! [`TargetPolicy`] says which addresses are refused. The shared HTTP client enforces it when it
//! connects, through [`GuardedResolver`], so a host name that resolves to a refused address is
//! refused too (whatever its URL looks like); [`check_url`] covers URLs whose host is an IP
//! address, which the client connects to without resolving. The client follows no redirects, so
//! an allowed receiver cannot bounce a notification to a refused address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Which addresses webhook and Slack notifications may connect to.
///
/// Always refused: unspecified (`0.0.0.0`, `::`), link-local (`169.254.0.0/16`, where clouds
/// serve instance metadata, and `fe80::/10`), multicast, broadcast, and the IPv4-mapped
/// (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) forms of those.
///
/// Refused unless `allow_private`: loopback (`127.0.0.0/8`, `::1`), private (`10.0.0.0/8`,
/// `172.16.0.0/12`, `192.168.0.0/16`), carrier-grade NAT (`100.64.0.0/10`) and unique local
/// (`fc00::/7`) addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow loopback and private addresses (default `true`: chat and webhook receivers often
    /// run on the internal network).
    pub allow_private: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        TargetPolicy { allow_private: true }
    }
}

impl TargetPolicy {
    /// Why a notification may not go to `ip`; `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<Refusal> {
        let ip = canonical(ip);
        if let Some(kind) = never(ip) {
            return Some(Refusal { kind, private: false });
        }
        match private(ip) {
            Some(kind) if !self.allow_private => Some(Refusal { kind, private: true }),
            _ => None,
        }
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What the address is: `"link-local (cloud metadata)"`, `"loopback"`...
    pub kind: &'static str,
    /// Refused only because the policy does not allow private addresses.
    pub private: bool,
}

/// `ip`, with IPv4-mapped and IPv4-compatible IPv6 addresses read as the IPv4 address they carry
/// (`::` and `::1` stay what they are).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if !v6.is_unspecified() && !v6.is_loopback() => v6.to_ipv4().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}

/// What `ip` is when no notification may go there, whatever the policy.
fn never(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("unspecified"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("link-local (cloud metadata)"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("multicast"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("unspecified"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("link-local"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("multicast"),
        _ => None,
    }
}

/// What `ip` is when it is loopback or private.
fn private(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("loopback"),
        IpAddr::V4(v4) if v4.is_private() => Some("private (RFC 1918)"),
        IpAddr::V4(v4) if is_shared(v4) => Some("carrier-grade NAT (100.64.0.0/10)"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("loopback"),
        IpAddr::V6(v6) if v6.is_unique_local() => Some("unique local (fc00::/7)"),
        _ => None,
    }
}

/// `100.64.0.0/10` (RFC 6598).
fn is_shared(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 100 && (b & 0xc0) == 64
}

/// A notification target the policy refuses: the address, the host name it was resolved from
/// (if any), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetRefused {
    host: Option<String>,
    ip: IpAddr,
    refusal: Refusal,
}

impl fmt::Display for TargetRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TargetRefused { host, ip, refusal } = self;
        match host {
            Some(host) => write!(f, "{host} resolves to {ip}, which is {}", refusal.kind)?,
            None => write!(f, "{ip} is {}", refusal.kind)?,
        }
        f.write_str("; alert notifications may not go there")?;
        if refusal.private {
            f.write_str(" (private targets are not allowed)")?;
        }
        Ok(())
    }
}

impl std::error::Error for TargetRefused {}

/// Refuses a URL whose host is an IP address the policy refuses. Host names pass: the client
/// checks what they resolve to when it connects.
pub(crate) fn check_url(url: &Url, policy: &TargetPolicy) -> Result<(), TargetRefused> {
    let Some(host) = url.host_str() else { return Ok(()) };
    // IPv6 hosts come bracketed: `[::1]`.
    let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else { return Ok(()) };
    match policy.refusal(ip) {
        None => Ok(()),
        Some(refusal) => Err(TargetRefused { host: None, ip, refusal }),
    }
}

/// The HTTP client's resolver: the system's lookup, without the addresses the policy refuses.
/// When every address is refused the lookup fails with a [`TargetRefused`] naming the host.
pub(super) struct GuardedResolver {
    pub(super) policy: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await?
                .filter(|addr| match policy.refusal(addr.ip()) {
                    None => true,
                    Some(refusal) => {
                        refused.get_or_insert(TargetRefused { host: Some(host.to_string()), ip: addr.ip(), refusal });
                        false
                    }
                })
                .collect();
            match refused {
                Some(refused) if allowed.is_empty() => Err(refused.into()),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: TargetPolicy = TargetPolicy { allow_private: false };
    const DEFAULT: TargetPolicy = TargetPolicy { allow_private: true };

    fn kind(policy: TargetPolicy, ip: &str) -> Option<&'static str> {
        policy.refusal(ip.parse().unwrap()).map(|r| r.kind)
    }

    #[test]
    fn always_refused_whatever_the_policy() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("169.254.0.1", "link-local (cloud metadata)"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            // IPv4-mapped and IPv4-compatible forms.
            ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
            ("::169.254.169.254", "link-local (cloud metadata)"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::ffff:224.0.0.1", "multicast"),
        ];
        for (ip, expected) in cases {
            for policy in [DEFAULT, STRICT] {
                let refusal = policy.refusal(ip.parse().unwrap());
                assert_eq!(refusal, Some(Refusal { kind: expected, private: false }), "{ip} with {policy:?}");
            }
        }
    }

    #[test]
    fn private_addresses_are_refused_only_when_not_allowed() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.0.0.5", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("100.64.0.1", "carrier-grade NAT (100.64.0.0/10)"),
            ("100.127.255.255", "carrier-grade NAT (100.64.0.0/10)"),
            ("fc00::1", "unique local (fc00::/7)"),
            ("fd12:3456::1", "unique local (fc00::/7)"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private (RFC 1918)"),
            ("::192.168.0.1", "private (RFC 1918)"),
        ];
        for (ip, expected) in cases {
            assert_eq!(STRICT.refusal(ip.parse().unwrap()), Some(Refusal { kind: expected, private: true }), "{ip}");
            assert_eq!(kind(DEFAULT, ip), None, "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "fec0::1",
        ] {
            assert_eq!(kind(STRICT, ip), None, "{ip}");
            assert_eq!(kind(DEFAULT, ip), None, "{ip}");
        }
    }

    #[test]
    fn urls_with_ip_hosts_are_checked_and_names_left_to_the_resolver() {
        let check = |url: &str, policy| check_url(&Url::parse(url).unwrap(), &policy).map_err(|e| e.to_string());
        assert_eq!(
            check("http://169.254.169.254/latest/meta-data/", DEFAULT),
            Err("169.254.169.254 is link-local (cloud metadata); alert notifications may not go there".into())
        );
        assert_eq!(
            check("http://[::ffff:a9fe:a9fe]/x", DEFAULT),
            Err("::ffff:169.254.169.254 is link-local (cloud metadata); alert notifications may not go there".into())
        );
        // The URL parser reads other spellings of IPv4 addresses as the address.
        assert!(check("http://2852039166/", DEFAULT).is_err());
        assert!(check("http://0x7f.1:8080/hook", DEFAULT).is_ok());
        assert_eq!(
            check("http://0x7f.1:8080/hook", STRICT),
            Err("127.0.0.1 is loopback; alert notifications may not go there (private targets are not allowed)".into())
        );
        assert_eq!(
            check("http://[fe80::1]:9000/", STRICT).unwrap_err(),
            "fe80::1 is link-local; alert notifications may not go there"
        );
        assert_eq!(check("https://hooks.slack.com/services/T/B/X", STRICT), Ok(()));
        assert_eq!(check("http://localhost:9000/hook", STRICT), Ok(()));
        assert_eq!(check("https://93.184.216.34/hook", STRICT), Ok(()));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let resolve = |policy, host: &str| GuardedResolver { policy }.resolve(host.parse().unwrap());
        let addrs: Vec<IpAddr> = resolve(DEFAULT, "localhost").await.unwrap().map(|a| a.ip()).collect();
        assert!(addrs.contains(&IpAddr::from([127, 0, 0, 1])), "{addrs:?}");
        let error = resolve(STRICT, "localhost").await.err().unwrap();
        let refused = error.downcast_ref::<TargetRefused>().expect("a TargetRefused");
        assert_eq!(refused.host.as_deref(), Some("localhost"));
        assert!(refused.to_string().starts_with("localhost resolves to "), "{refused}");
        assert!(
            refused.to_string().ends_with(
                ", which is loopback; alert notifications may not go there (private targets are not allowed)"
            ),
            "{refused}"
        );
    }
}
