//! Where the service may connect on a user's behalf (webhook receivers): public addresses only, unless
//! WEBHOOK_ALLOW_PRIVATE_TARGETS says the receivers are on the organisation's own network.
//!
//! An admin could otherwise point a webhook at the service's own neighbourhood (`127.0.0.1:5432`, the
//! cloud metadata service at `169.254.169.254`, an internal admin page) and read from the delivery log
//! which ports answer. So a URL is checked when it is registered (its host as written, and the addresses
//! its name resolves to then), and again on every delivery on the addresses actually connected to: the
//! HTTP client resolves names through [`PublicOnly`], so a name that resolved to a public address at
//! registration and to a private one later (DNS rebinding) is refused at connect time. Redirects are
//! not followed and proxies from the environment are not used, so the address checked is the address
//! the request goes to.
//!
//! This module owns the rule; it knows nothing of webhooks, HTTP routes or the database.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Whether receivers may be on private networks (on-premises ticketing systems), or only on the
/// public internet (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

/// IPv4 ranges that are not the public internet (IANA special-purpose registry): this host, private
/// networks, shared CGNAT space, loopback, link-local (cloud metadata), protocol assignments,
/// documentation, benchmarking, multicast, reserved and broadcast.
const NOT_PUBLIC_V4: [(u32, u8); 15] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network", the unspecified address
    (0x0A00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 CGNAT shared address space
    (0x7F00_0000, 8),  // 127.0.0.0/8 loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16 link-local, where cloud metadata services answer
    (0xAC10_0000, 12), // 172.16.0.0/12 private
    (0xC000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xC0A8_0000, 16), // 192.168.0.0/16 private
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 4),  // 224.0.0.0/4 multicast
    (0xF000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

/// IPv6 ranges that are not the public internet. The forms that carry an IPv4 address (mapped,
/// compatible, NAT64, 6to4) are judged by that address instead, in [`is_public`].
const NOT_PUBLIC_V6: [(u128, u8); 9] = [
    (0, 128),                          // :: unspecified
    (1, 128),                          // ::1 loopback
    (0x0064_ff9b_0001_u128 << 80, 48), // 64:ff9b:1::/48 local-use NAT64
    (0x0100_u128 << 112, 64),          // 100::/64 discard-only
    (0x2001_u128 << 112, 23),          // 2001::/23 IETF protocol assignments (Teredo, ORCHID…)
    (0x2001_0db8_u128 << 96, 32),      // 2001:db8::/32 documentation
    (0xfc00_u128 << 112, 7),           // fc00::/7 unique local
    (0xfe80_u128 << 112, 10),          // fe80::/10 link-local, and fec0::/10 site-local below
    (0xff00_u128 << 112, 8),           // ff00::/8 multicast
];

fn in_range<T: Into<u128>>(address: T, bits: u32, (network, prefix): (T, u8)) -> bool {
    let shift = bits - u32::from(prefix);
    let (address, network) = (address.into(), network.into());
    shift >= bits || (address >> shift) == (network >> shift)
}

/// True for an address on the public internet, the only kind a webhook may reach by default.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let address = u32::from(v4);
            !NOT_PUBLIC_V4.iter().any(|range| in_range(address, 32, *range))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let address = u128::from(v6);
            let site_local = in_range(address, 128, (0xfec0_u128 << 112, 10));
            !site_local && !NOT_PUBLIC_V6.iter().any(|range| in_range(address, 128, *range))
        }
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`, the deprecated
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`. Each reaches that
/// IPv4 host, so it is judged as that host.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let address = u128::from(v6);
    let low32 = Ipv4Addr::from((address & 0xffff_ffff) as u32);
    if address >> 32 == 0xffff || (address >> 32 == 0 && address > 1) {
        return Some(low32);
    }
    if address >> 32 == 0x0064_ff9b_u128 << 64 {
        return Some(low32);
    }
    if address >> 112 == 0x2002 {
        return Some(Ipv4Addr::from(((address >> 80) & 0xffff_ffff) as u32));
    }
    None
}

/// Names that by definition are not on the public internet: `localhost` (RFC 6761), `.local` (mDNS),
/// `.internal` (ICANN's private-use domain, where cloud metadata services live, e.g.
/// metadata.google.internal), `.home.arpa` (RFC 8375), `.lan`, and names of one label, which the
/// resolver completes with the local search domain.
fn is_private_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let suffixes = [".localhost", ".local", ".internal", ".home.arpa", ".lan"];
    host == "localhost" || !host.contains('.') || suffixes.iter().any(|suffix| host.ends_with(suffix))
}

/// How long a registration waits for the name to resolve. A name that does not resolve in time is
/// accepted: it is checked again on every delivery, which is what counts.
const REGISTRATION_LOOKUP: Duration = Duration::from_secs(3);

impl TargetPolicy {
    /// Refuses a URL whose host is not a public address, as written or as its name resolves now; the
    /// text says why, for the client.
    pub async fn check_url(self, url: &str) -> Result<(), String> {
        let url = url::Url::parse(url).map_err(|_| "must be a URL".to_owned())?;
        if self.allow_private {
            return Ok(());
        }
        let refused = |what: String| {
            Err(format!(
                "must point at a public address, not {what}; WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows receivers on \
                 private networks"
            ))
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => refused(format!("{ip}")),
            Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => refused(format!("{ip}")),
            Some(url::Host::Domain(name)) if is_private_name(name) => refused(format!("the local name {name}")),
            Some(url::Host::Domain(name)) => {
                let port = url.port_or_known_default().unwrap_or(80);
                let lookup = tokio::time::timeout(REGISTRATION_LOOKUP, tokio::net::lookup_host((name, port))).await;
                match lookup {
                    Ok(Ok(addresses)) => match addresses.map(|a| a.ip()).find(|ip| !is_public(*ip)) {
                        Some(ip) => refused(format!("{name}, which resolves to {ip}")),
                        None => Ok(()),
                    },
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether a delivery may connect to the host of `url` as written: an address literal must be public.
    /// Names are checked on the addresses they resolve to, by [`PublicOnly`].
    pub fn allows_literal(self, url: &str) -> Result<(), String> {
        let url = url::Url::parse(url).map_err(|_| "not sent: the URL does not parse".to_owned())?;
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.allow_private && !is_public(ip) => {
                Err(format!("not sent: {ip} is not a public address (WEBHOOK_ALLOW_PRIVATE_TARGETS is off)"))
            }
            _ => Ok(()),
        }
    }

    /// An HTTP client for user-chosen URLs: names resolved through [`PublicOnly`] (unless private
    /// targets are allowed), no redirects followed, no proxy from the environment.
    pub fn client_builder(self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy();
        if self.allow_private { builder } else { builder.dns_resolver(std::sync::Arc::new(PublicOnly)) }
    }
}

/// Resolves names like the system does, then keeps only public addresses: a name that resolves to
/// nothing else cannot be connected to, whatever its DNS says at the moment of delivery.
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_private_name(&host) {
                return Err(format!("not sent: {host} is a local name (WEBHOOK_ALLOW_PRIVATE_TARGETS is off)").into());
            }
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = connectable(&host, resolved)?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The public ones among the addresses `host` resolved to: what a delivery may connect to. A name that
/// resolves only to other addresses is refused with a reason; one address of each kind keeps the public
/// one, so a rebinding answer that mixes them cannot steer the connection inside.
fn connectable(host: &str, resolved: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let public: Vec<SocketAddr> = resolved.iter().copied().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() && !resolved.is_empty() {
        return Err(format!(
            "not sent: {host} resolves only to addresses that are not public (WEBHOOK_ALLOW_PRIVATE_TARGETS is off)"
        ));
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_cgnat_and_the_rest_are_not_public() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
        ] {
            assert!(!public(address), "{address} passed as public");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for private in
            ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a00:1"]
        {
            assert!(!public(private), "{private} passed as public");
        }
        assert!(!public("2002:7f00:1::"), "6to4 of 127.0.0.1");
        assert!(public("::ffff:93.184.216.34"));
        assert!(public("64:ff9b::5db8:d822"));
    }

    #[test]
    fn public_addresses_are_public() {
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(public(address), "{address} refused");
        }
    }

    #[test]
    fn a_name_is_connected_to_on_its_public_addresses_only() {
        let at = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 0);
        let refused = connectable("rebind.example.com", vec![at("127.0.0.1"), at("::ffff:169.254.169.254")]);
        assert!(refused.unwrap_err().contains("resolves only to addresses that are not public"));
        let mixed = connectable("mixed.example.com", vec![at("10.0.0.5"), at("93.184.216.34"), at("::1")]);
        assert_eq!(mixed.unwrap(), [at("93.184.216.34")]);
    }

    #[test]
    fn local_names_are_private() {
        for name in [
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "printer.local",
            "metadata.google.internal",
            "nas.home.arpa",
            "intranet",
            "router.lan",
        ] {
            assert!(is_private_name(name), "{name}");
        }
        assert!(!is_private_name("jira-bridge.example.com"));
    }
}
