//! The address a request comes from, for the limits keyed by it (failed logins, web-chat
//! connections and messages): the TCP peer, or, when the peer is one of the `trusted_proxies`,
//! the address that proxy put in `X-Forwarded-For`. Read from the right (each proxy appends the
//! address it saw), the first address that is not a trusted proxy is the client's: the left
//! part of the header is whatever the client sent, and is never believed.

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::state::AppState;

/// The proxies whose `X-Forwarded-For` the hub believes (`Settings::trusted_proxies`), as
/// addresses and networks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct TrustedProxies(Vec<Network>);

/// An address and how many of its leading bits a network fixes (`10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(self, address: IpAddr) -> bool {
        let bits = |address: IpAddr| match address {
            IpAddr::V4(v4) => (u128::from(v4.to_bits()), 32),
            IpAddr::V6(v6) => (v6.to_bits(), 128),
        };
        let ((network, width), (address, other_width)) = (bits(self.address), bits(address));
        if width != other_width {
            return false;
        }
        let shift = u32::from(width - self.prefix);
        network.checked_shr(shift).unwrap_or(0) == address.checked_shr(shift).unwrap_or(0)
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let bad = || format!("`{text}` is not an address or a network like 10.0.0.0/8");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address.trim())
            .map_err(|_| bad())?
            .to_canonical();
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse().ok().filter(|p| *p <= width),
            None => Some(width),
        }
        .ok_or_else(bad)?;
        Ok(Network { address, prefix })
    }
}

impl TryFrom<String> for TrustedProxies {
    type Error = String;

    /// A comma-separated list of addresses and networks; empty trusts no proxy.
    fn try_from(list: String) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse()
                    .map_err(|err| format!("`trusted_proxies`: {err}"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl Default for TrustedProxies {
    /// This machine's own addresses: the hub listens on loopback by default, behind a proxy
    /// on the same machine.
    fn default() -> TrustedProxies {
        TrustedProxies(vec![
            Network {
                address: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Network {
                address: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ])
    }
}

impl TrustedProxies {
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address, given the TCP peer and the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        // Every `X-Forwarded-For` line, in order, as one list.
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for hop in forwarded.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            let hop = hop.trim();
            let Some(address) = IpAddr::from_str(hop)
                .ok()
                .or_else(|| SocketAddr::from_str(hop).ok().map(|at| at.ip()))
            else {
                // Not an address: what the trusted proxy saw is unknown, so the proxy is
                // the last address known.
                break;
            };
            client = address.to_canonical();
        }
        client
    }
}

/// The address the request came from ([`TrustedProxies::client`]); `None` when the server was
/// not started with the peer's address (it is, by `Application`).
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(ClientAddress(peer.map(|peer| {
            state.settings.trusted_proxies.client(peer, &parts.headers)
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::try_from(list.to_owned()).expect("valid")
    }

    fn client(trusted: &TrustedProxies, peer: &str, forwarded: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for line in forwarded {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(line).expect("a header"),
            );
        }
        trusted
            .client(peer.parse().expect("an address"), &headers)
            .to_string()
    }

    #[test]
    fn the_first_untrusted_address_from_the_right_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.7, fd00::/8");
        let cases: [(&str, &[&str], &str); 10] = [
            // Straight from the client: its header is its own claim.
            ("203.0.113.9", &["1.2.3.4"], "203.0.113.9"),
            ("10.1.2.3", &[], "10.1.2.3"),
            ("10.1.2.3", &["198.51.100.7"], "198.51.100.7"),
            // What the client sent on the left is not believed.
            ("10.1.2.3", &["1.2.3.4, 198.51.100.7"], "198.51.100.7"),
            // Two proxies, the second on its own line.
            (
                "10.1.2.3",
                &["1.2.3.4, 198.51.100.7", "192.168.1.7"],
                "198.51.100.7",
            ),
            ("192.168.1.8", &["198.51.100.7"], "192.168.1.8"),
            ("10.1.2.3", &["fd00::5, 2001:db8::1"], "2001:db8::1"),
            ("::ffff:10.1.2.3", &["198.51.100.7:4321"], "198.51.100.7"),
            // Garbage from a trusted proxy: the proxy is the last address known.
            ("10.1.2.3", &["unknown"], "10.1.2.3"),
            // Every hop trusted: the leftmost.
            ("10.1.2.3", &["10.9.9.9, 10.8.8.8"], "10.9.9.9"),
        ];
        for (peer, forwarded, expected) in cases {
            assert_eq!(
                client(&trusted, peer, forwarded),
                expected,
                "{peer} {forwarded:?}"
            );
        }
    }

    #[test]
    fn loopback_is_trusted_by_default_and_an_empty_list_trusts_none() {
        let default = TrustedProxies::default();
        assert_eq!(
            client(&default, "127.0.0.1", &["198.51.100.7"]),
            "198.51.100.7"
        );
        assert_eq!(client(&default, "::1", &["198.51.100.7"]), "198.51.100.7");
        assert_eq!(client(&default, "10.0.0.1", &["198.51.100.7"]), "10.0.0.1");
        assert_eq!(
            client(&proxies(""), "127.0.0.1", &["198.51.100.7"]),
            "127.0.0.1"
        );
        assert_eq!(proxies("127.0.0.0/8, ::1"), default);
    }

    #[test]
    fn bad_entries_are_refused_with_the_setting_named() {
        for bad in [
            "10.0.0.0/33",
            "::1/129",
            "localhost",
            "10.0.0/8",
            "10.0.0.0/x",
        ] {
            let err = TrustedProxies::try_from(bad.to_owned()).expect_err(bad);
            assert!(
                err.contains("trusted_proxies") && err.contains(bad),
                "{err}"
            );
        }
        assert_eq!(proxies("0.0.0.0/0").0.len(), 1);
        assert!(proxies("0.0.0.0/0").trusts("8.8.8.8".parse().expect("an address")));
    }
}
