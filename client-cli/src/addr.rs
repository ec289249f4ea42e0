//! Relay addresses as users write them: `HOST:PORT`, with IPv6 hosts in brackets.
//!
//! The host part doubles as the TLS server name the relay's certificate must carry.

use std::fmt;
use std::str::FromStr;

/// Where a relay listens: a host name or IP address and a UDP port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelayAddr {
    host: String,
    port: u16,
}

/// Why a relay address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid relay address {input:?}: {reason} (expected HOST:PORT, e.g. localhost:4433 or [::1]:4433)"
)]
pub struct AddrError {
    input: String,
    reason: &'static str,
}

impl RelayAddr {
    /// A relay address from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        RelayAddr {
            host: host.into(),
            port,
        }
    }

    /// The host part, without brackets: the TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The UDP port.
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
        let s = input.trim();
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
        Ok(RelayAddr::new(host, port))
    }
}

impl fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        ] {
            let e = bad.parse::<RelayAddr>().unwrap_err();
            assert!(e.to_string().contains("expected HOST:PORT"), "{bad}: {e}");
        }
    }
}
