//! Relay addresses as users write them: `HOST:PORT` (the relay's UDP port, QUIC), or
//! `ws://HOST:PORT` / `wss://HOST:PORT` (its HTTP port, the WebSocket transport), with IPv6
//! hosts in brackets.
//!
//! The host part doubles as the TLS server name the relay's certificate must carry.

use std::fmt;
use std::str::FromStr;

/// Where a relay listens: a host name or IP address and a port, and how to reach it there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelayAddr {
    host: String,
    port: u16,
    via: Via,
}

/// How a relay address is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// QUIC on the relay's UDP port (`HOST:PORT`).
    Quic,
    /// The WebSocket transport on the relay's HTTP port, plain (`ws://`) or over TLS
    /// (`wss://`).
    WebSocket { tls: bool },
}

/// Why a relay address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid relay address {input:?}: {reason} (expected HOST:PORT, e.g. localhost:4433 or [::1]:4433, or ws://HOST:PORT or wss://HOST:PORT for the HTTP port)"
)]
pub struct AddrError {
    input: String,
    reason: &'static str,
}

impl RelayAddr {
    /// A relay's QUIC address from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        RelayAddr {
            host: host.into(),
            port,
            via: Via::Quic,
        }
    }

    /// A relay's WebSocket transport on its HTTP port, over TLS with `tls`.
    pub fn websocket(host: impl Into<String>, port: u16, tls: bool) -> Self {
        RelayAddr {
            via: Via::WebSocket { tls },
            ..RelayAddr::new(host, port)
        }
    }

    /// How this address is reached.
    pub fn via(&self) -> Via {
        self.via
    }

    /// The host part, without brackets: the TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: UDP for QUIC, TCP for the WebSocket transport.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for RelayAddr {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddrError {
            input: input.to_owned(),
            reason,
        };
        let mut s = input.trim();
        let mut via = Via::Quic;
        for (scheme, tls) in [("ws://", false), ("wss://", true)] {
            if let Some(rest) = s.strip_prefix(scheme) {
                via = Via::WebSocket { tls };
                // The path is the relay's; `/ws` or nothing may be written.
                s = rest
                    .strip_suffix(chitchat_protocol::WS_PATH)
                    .or_else(|| rest.strip_suffix('/'))
                    .unwrap_or(rest);
                if s.contains('/') {
                    return Err(err("a relay URL has no path but /ws"));
                }
            }
        }
        if s.contains("://") {
            return Err(err("only ws:// and wss:// URLs name a relay"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| err("missing :PORT"))?;
            (host, port)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or_else(|| err("missing :PORT"))?;
            if host.contains(':') {
                return Err(err("put an IPv6 address in brackets"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(err("missing host"));
        }
        let port = port.parse::<u16>().map_err(|_| err("bad port"))?;
        if port == 0 {
            return Err(err("port 0 is not a relay's port"));
        }
        Ok(RelayAddr {
            via,
            ..RelayAddr::new(host, port)
        })
    }
}

impl fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            Via::Quic => {}
            Via::WebSocket { tls: false } => f.write_str("ws://")?,
            Via::WebSocket { tls: true } => f.write_str("wss://")?,
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, host, port, shown) in [
            ("localhost:4433", "localhost", 4433, "localhost:4433"),
            ("127.0.0.1:1", "127.0.0.1", 1, "127.0.0.1:1"),
            ("[::1]:4433", "::1", 4433, "[::1]:4433"),
            (
                " relay.example:65535 ",
                "relay.example",
                65535,
                "relay.example:65535",
            ),
        ] {
            let addr: RelayAddr = text.parse().unwrap();
            assert_eq!((addr.host(), addr.port()), (host, port), "{text}");
            assert_eq!(addr.to_string(), shown);
            assert_eq!(addr.via(), Via::Quic);
        }
    }

    #[test]
    fn parses_websocket_urls() {
        for (text, host, port, tls, shown) in [
            (
                "ws://localhost:8080",
                "localhost",
                8080,
                false,
                "ws://localhost:8080",
            ),
            (
                "wss://relay.example:443/ws",
                "relay.example",
                443,
                true,
                "wss://relay.example:443",
            ),
            ("ws://[::1]:8080/", "::1", 8080, false, "ws://[::1]:8080"),
        ] {
            let addr: RelayAddr = text.parse().unwrap();
            assert_eq!((addr.host(), addr.port()), (host, port), "{text}");
            assert_eq!(addr.via(), Via::WebSocket { tls }, "{text}");
            assert_eq!(addr.to_string(), shown);
        }
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "localhost",
            ":4433",
            "host:",
            "host:x",
            "host:70000",
            "host:0",
            "::1:4433",
            "[::1]",
            "[::1:4433",
            "http://localhost:8080",
            "ws://localhost",
            "ws://localhost:8080/chat",
            "wss://:443",
        ] {
            let e = bad.parse::<RelayAddr>().unwrap_err();
            assert!(e.to_string().contains("expected HOST:PORT"), "{bad}: {e}");
        }
    }
}
