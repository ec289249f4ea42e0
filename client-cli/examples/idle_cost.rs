//! Measures what an idle client connection costs on the wire: connects to a relay with the
//! CLI's default connection settings (keep-alive and idle timeout), joins a room, stays
//! silent for a while, and prints the UDP datagrams and QUIC PINGs each way that quinn
//! counted meanwhile. docs/performance.md quotes its output.
//!
//! ```sh
//! cargo run -p chitchat-cli --example idle_cost -- RELAY:PORT CA.pem [SECONDS]
//! ```

use std::time::Duration;

use anyhow::Context as _;
use chitchat_cli::{ClientConfig, Connector, RelayAddr};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: idle_cost RELAY:PORT CA.pem [SECONDS]";
    let relay: RelayAddr = args.next().context(usage)?.parse()?;
    let ca = args.next().context(usage)?;
    let seconds: u64 = args.next().map_or(Ok(60), |s| s.parse())?;

    let connector = Connector::new(ClientConfig::new(ca))?;
    let (client, _events) = connector.connect(&relay, "idle").await?;
    client.join("idle-cost", None).await?;
    // Let the handshake's and the join's packets settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quic = client
        .connection()
        .context("idle_cost measures QUIC packets: give the relay's UDP address")?;
    let before = quic.stats();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = quic.stats();
    anyhow::ensure!(
        client.close_reason().is_none(),
        "the connection ended while idle"
    );

    let per_minute = |n: u64| n as f64 * 60.0 / seconds as f64;
    let sent = after.udp_tx.datagrams - before.udp_tx.datagrams;
    let received = after.udp_rx.datagrams - before.udp_rx.datagrams;
    let pings = after.frame_tx.ping - before.frame_tx.ping;
    let cfg = connector.config();
    println!(
        "idle {seconds} s, keep-alive {} ms, idle timeout {} ms",
        cfg.keep_alive.as_millis(),
        cfg.idle_timeout.as_millis()
    );
    println!(
        "client -> relay: {sent} datagrams ({:.0}/min), {pings} PINGs",
        per_minute(sent)
    );
    println!(
        "relay -> client: {received} datagrams ({:.0}/min)",
        per_minute(received)
    );
    println!(
        "both ways: {:.0} datagrams/min, {:.0} bytes/min",
        per_minute(sent + received),
        per_minute(
            after.udp_tx.bytes - before.udp_tx.bytes + after.udp_rx.bytes - before.udp_rx.bytes
        )
    );
    client.close().await;
    Ok(())
}
