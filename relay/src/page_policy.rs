//! The page's Content-Security-Policy and the addresses it lets the page connect to: its own
//! origin, every WebTransport and WebSocket URL its configuration lists (this relay and the
//! cluster's other live relays) and the token URL; and which `Host` headers the page may
//! echo as this relay's address ([`certified_authority`]).
//!
//! A CSP host-source cannot name an IPv6 literal (`https://[::1]:4433` is not a valid source
//! and browsers drop it), so a URL whose host is one is allowed by its scheme alone
//! (`https:`, `wss:`, `ws:`); names and IPv4 addresses are allowed as exact origins.

use axum::http::Uri;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The relay's WebSocket endpoint on its HTTP port (web/js/transport.js uses the same path).
const WEBSOCKET_PATH: &str = "/ws";

/// The WebSocket URL of a relay whose web app is at `http_url` (its registry `http`):
/// `http` -> `ws`, `https` -> `wss`, at [`WEBSOCKET_PATH`]. `None` for anything else.
pub fn websocket_url(http_url: &str) -> Option<String> {
    let uri = Uri::try_from(http_url).ok()?;
    let scheme = match uri.scheme_str()? {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    Some(format!("{scheme}://{}{WEBSOCKET_PATH}", uri.authority()?))
}

/// `example.org:8080` -> `example.org`; `[::1]:8080` -> `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `host` (a `Host` header) as `host[:port]` in lower case if its host is one of `allowed`
/// (lower case, IPv6 in brackets) and its port, if any, a port number; `None` for anything
/// else, so nothing but a known name and a number is ever echoed into the page.
pub fn certified_authority(allowed: &[String], host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let name = host_without_port(&host);
    let port = &host[name.len()..];
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    (port_ok && allowed.iter().any(|a| a == name)).then_some(host)
}

/// The connect-src source that lets the page reach `url`: `scheme://host[:port]`, or the
/// scheme alone (`https:`) when the host is an IPv6 literal. `None` for a URL that is not
/// http(s) or ws(s), carries user info, or holds a character that would end the source.
pub fn connect_source(url: &str) -> Option<String> {
    let uri = Uri::try_from(url).ok()?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "https" | "http" | "wss" | "ws"))?;
    let authority = uri.authority()?.as_str();
    if authority.contains(['@', ' ', ';', ',', '\'', '"']) {
        return None;
    }
    if authority.starts_with('[') {
        return Some(format!("{scheme}:"));
    }
    Some(format!("{scheme}://{authority}"))
}

/// The page's policy: scripts, style sheets and images only from this origin (plus the
/// inline import map, by its hash; the inline configuration is JSON data, never run), network
/// access only to this origin and the sources of `connect` (the WebTransport and WebSocket
/// URLs the page lists, the token URL; see [`connect_source`]), no framing. Style attributes
/// are allowed (the page colours each nick with a `--hue` property on the element); `<style>`
/// elements are not.
pub fn content_security_policy(import_json: &str, connect: &[String]) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(import_json));
    let mut sources = vec![String::from("'self'")];
    for source in connect.iter().filter_map(|url| connect_source(url)) {
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let connect = sources.join(" ");
    format!(
        "default-src 'none'; script-src 'self' 'sha256-{hash}'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self'; connect-src {connect}; \
         manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_src(csp: &str) -> &str {
        let start = csp.find("connect-src ").expect("a connect-src") + "connect-src ".len();
        let end = start + csp[start..].find(';').expect("ends with ;");
        &csp[start..end]
    }

    #[test]
    fn the_policy_lists_the_import_map_hash_and_webtransport_origins() {
        let csp = content_security_policy("{}", &["https://localhost:4433/".into()]);
        assert_eq!(connect_src(&csp), "'self' https://localhost:4433", "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // SHA-256 of "{}", base64.
        assert!(
            csp.contains("'sha256-RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o='"),
            "{csp}"
        );
    }

    #[test]
    fn websocket_origins_of_other_relays_are_allowed_each_once() {
        let csp = content_security_policy(
            "{}",
            &[
                "https://localhost:4433/".into(),
                "https://relay2.example:4433/".into(),
                "ws://localhost:8080/ws".into(),
                "wss://relay2.example/ws".into(),
                "wss://relay2.example/ws".into(),
                "https://auth.example/token".into(),
            ],
        );
        assert_eq!(
            connect_src(&csp),
            "'self' https://localhost:4433 https://relay2.example:4433 ws://localhost:8080 \
             wss://relay2.example https://auth.example",
            "{csp}"
        );
    }

    #[test]
    fn ipv6_literal_hosts_are_allowed_by_scheme_and_others_exactly() {
        assert_eq!(
            connect_source("https://[::1]:4433/").as_deref(),
            Some("https:")
        );
        assert_eq!(connect_source("ws://[::1]:8080/ws").as_deref(), Some("ws:"));
        assert_eq!(
            connect_source("wss://[2001:db8::7]/ws").as_deref(),
            Some("wss:")
        );
        assert_eq!(
            connect_source("https://127.0.0.1:4433/").as_deref(),
            Some("https://127.0.0.1:4433")
        );
        assert_eq!(
            connect_source("wss://chat.example.org/ws").as_deref(),
            Some("wss://chat.example.org")
        );
        let csp = content_security_policy(
            "{}",
            &[
                "https://[::1]:4433/".into(),
                "https://[::1]:4434/".into(),
                "ws://[::1]:8081/ws".into(),
                "https://localhost:4435/".into(),
            ],
        );
        assert_eq!(
            connect_src(&csp),
            "'self' https: ws: https://localhost:4435",
            "{csp}"
        );
        assert!(!csp.contains('['), "no IPv6 literal in the policy: {csp}");
    }

    #[test]
    fn urls_that_could_break_the_policy_are_left_out() {
        for bad in [
            "javascript:alert(1)",
            "ftp://example.org/",
            "https://user@example.org/",
            "https://a.example;script-src",
            "https://a.example,b.example/",
            "not a url",
            "",
        ] {
            assert_eq!(connect_source(bad), None, "{bad}");
        }
        let csp = content_security_policy("{}", &["https://a.example;script-src *".into()]);
        assert_eq!(connect_src(&csp), "'self'", "{csp}");
    }

    #[test]
    fn host_ports_are_stripped() {
        assert_eq!(host_without_port("localhost:8080"), "localhost");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("example.org"), "example.org");
    }

    #[test]
    fn only_known_hosts_with_port_numbers_are_certified() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]", "relay.lan"]
            .iter()
            .map(|h| h.to_string())
            .collect();
        let certified = |host| certified_authority(&allowed, host);
        assert_eq!(
            certified("127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(certified("[::1]:8080").as_deref(), Some("[::1]:8080"));
        assert_eq!(certified("Relay.LAN").as_deref(), Some("relay.lan"));
        for hostile in [
            "evil.example:8080",
            "[::1]:8080/evil",
            "[::1]x",
            "localhost:99999",
            "localhost:0",
            "localhost:80 evil",
            "localhost:",
            "",
        ] {
            assert_eq!(certified(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn websocket_urls_follow_the_http_scheme() {
        assert_eq!(
            websocket_url("http://localhost:8081/").as_deref(),
            Some("ws://localhost:8081/ws")
        );
        assert_eq!(
            websocket_url("https://chat.example.org/").as_deref(),
            Some("wss://chat.example.org/ws")
        );
        assert_eq!(
            websocket_url("http://[::1]:8080").as_deref(),
            Some("ws://[::1]:8080/ws")
        );
        assert_eq!(websocket_url("ftp://example.org/"), None);
        assert_eq!(websocket_url(""), None);
    }
}
