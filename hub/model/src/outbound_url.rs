//! Where an inbox's config may point the hub: the one check every outbound URL an organization
//! sets (`api_base_url`, `base_url`, `smtp_url`) goes through before a connector is built from
//! it, so that a tenant's admin cannot make the hub call its own cloud's metadata service.
//!
//! Refused: any scheme but the field's own (`http`/`https`, or `smtp`/`smtps` for mail); hosts
//! that are link-local (169.254.0.0/16, fe80::/10: where cloud metadata services answer),
//! unspecified (0.0.0.0/8, `::`), broadcast or multicast, whether written as IPv4, as an IPv6
//! form that carries an IPv4 address (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64's `64:ff9b::/96`)
//! or as a number (`2852039166`, `0xa9.0xfe.0xa9.0xfe`, which resolvers accept); the known
//! metadata addresses outside those ranges (AWS's `fd00:ec2::254`, Alibaba's 100.100.100.200)
//! and metadata host names (`metadata.google.internal`, `metadata`, …).
//!
//! Allowed on purpose: loopback and private ranges (10/8, 172.16/12, 192.168/16, fc00::/7).
//! Tests point connectors at fakes on loopback, and self-hosted setups reach their relays, a
//! proxy or a helpdesk on the private network; the hub's operator decides what the host can
//! reach. A host name is judged by its name, not by where it resolves at the time of the
//! check: name resolution is I/O, and its answer may change by the time of the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host names of cloud metadata services, compared without case and trailing dot.
const METADATA_HOSTS: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Metadata services' addresses outside the link-local ranges.
const METADATA_ADDRESSES: &[IpAddr] = &[
    // AWS's instance metadata over IPv6 (inside fc00::/7, which stays allowed otherwise).
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
    // Alibaba Cloud's (inside 100.64.0.0/10).
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// The schemes a mail relay URL (`smtp_url`) may use.
pub const SMTP_SCHEMES: &[&str] = &["smtp", "smtps"];
/// The schemes an API base URL may use.
pub const HTTP_SCHEMES: &[&str] = &["http", "https"];

/// Checks the URL the config field `field` holds: one of `schemes`, and a host the hub may
/// call (see the module's documentation). The reason names the field.
pub fn check_outbound_url(field: &str, text: &str, schemes: &[&str]) -> Result<(), String> {
    let allowed: Vec<String> = schemes
        .iter()
        .map(|scheme| format!("{scheme}://"))
        .collect();
    let allowed = allowed.join(" or ");
    let url = url::Url::parse(text.trim())
        .map_err(|err| format!("`{field}` is not an {allowed} URL: {err}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "`{field}` must be an {allowed} URL, not {}://",
            url.scheme()
        ));
    }
    let refused = |host: &str, why: &str| {
        Err(format!(
            "`{field}` points at {host}, {why}: the hub does not send requests there"
        ))
    };
    let ip = match url.host() {
        None => return Err(format!("`{field}` has no host")),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&name.as_str()) {
                return refused(&name, "a cloud metadata service");
            }
            // `http` and `https` hosts are already parsed as addresses; other schemes' hosts
            // are opaque text, which a resolver still reads as an address when it is one in
            // any of the forms `http` accepts.
            let as_http = url::Url::parse(&format!("http://{name}/")).ok();
            match as_http.as_ref().and_then(url::Url::host) {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
                _ => return Ok(()),
            }
        }
    };
    match refused_address(ip) {
        Some(why) => refused(&ip.to_string(), why),
        None => Ok(()),
    }
}

/// Why the hub may not call `ip`, if it may not.
fn refused_address(ip: IpAddr) -> Option<&'static str> {
    if METADATA_ADDRESSES.contains(&ip) {
        return Some("a cloud metadata address");
    }
    let ip = match ip {
        IpAddr::V6(v6) => match carried_ipv4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    if METADATA_ADDRESSES.contains(&ip) {
        return Some("a cloud metadata address");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("a link-local address (where cloud metadata services answer)")
        }
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("an unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() || v4.is_multicast() => {
            Some("a broadcast or multicast address")
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            Some("a link-local address (where cloud metadata services answer)")
        }
        IpAddr::V6(v6) if v6.is_unspecified() => Some("an unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`, but not `::` or `::1`) and NAT64 (`64:ff9b::a.b.c.d`).
fn carried_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if nat64 {
        let [.., a, b, c, d] = ip.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    ip.to_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), String> {
        let schemes = if url.starts_with("smtp") {
            SMTP_SCHEMES
        } else {
            HTTP_SCHEMES
        };
        check_outbound_url("api_base_url", url, schemes)
    }

    #[test]
    fn metadata_link_local_and_unspecified_hosts_are_refused_in_every_spelling() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.0.1:8443",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::169.254.169.254]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[febf::1]/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://169.254.43518/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.Google.Internal./",
            "http://metadata/",
            "http://metadata.goog/",
            "http://instance-data/latest/",
            "http://0.0.0.0:8080/",
            "http://0/",
            "http://[::]/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://[ff02::1]/",
            "smtp://169.254.169.254:25",
            "smtp://2852039166",
            "smtps://0xa9.0xfe.0xa9.0xfe",
            "smtps://[::ffff:169.254.169.254]",
            "smtp://metadata.google.internal",
            "smtp://0.0.0.0",
        ] {
            let refused = check(url).expect_err(url);
            assert!(refused.contains("`api_base_url`"), "{refused}");
        }
    }

    #[test]
    fn only_the_fields_schemes_are_accepted() {
        for url in [
            "gopher://127.0.0.1:6379/_INFO",
            "file:///etc/passwd",
            "ftp://files.example.com",
            "dict://127.0.0.1:11211/",
            "not a url",
            "http://",
        ] {
            assert!(check(url).is_err(), "{url}");
        }
        assert!(check_outbound_url("smtp_url", "https://mail.example.com", SMTP_SCHEMES).is_err());
        assert!(check_outbound_url("base_url", "smtp://mail.example.com", HTTP_SCHEMES).is_err());
    }

    #[test]
    fn public_private_and_loopback_hosts_are_allowed() {
        for url in [
            "https://api.telegram.org",
            "https://graph.facebook.com/v21.0",
            "https://acme.zendesk.com",
            "http://127.0.0.1:43121",
            "http://localhost:8080/api",
            "http://[::1]:9000",
            "http://10.1.2.3",
            "http://172.16.0.5:8080",
            "http://192.168.1.20",
            "http://[fd12:3456::1]/",
            "http://100.64.0.1/",
            "http://metadata.example.com/",
            "smtp://127.0.0.1:2525",
            "smtps://user:pass@mail.example.com",
            "smtp://relay.lan:25?tls=none",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
    }
}
