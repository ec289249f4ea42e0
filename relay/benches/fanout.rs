//! The relay's hot paths in isolation: the hub's fan-out of one stored message into N
//! members' queues (real tokio queues, drained as a room writer drains them), and the
//! embedded broker's publish, from call to every local member's queue.
//!
//! Members hold a real QUIC connection (one loopback quinn connection shared by all: the
//! hub touches it only to close slow consumers), so nothing here is a stand-in.
//!
//! Run with `cargo bench -p chitchat-relay --bench fanout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use chitchat_protocol::{ALPN_CHITCHAT, Message};
use chitchat_relay::broker::embedded::EmbeddedBroker;
use chitchat_relay::broker::{Broker, Deliver, NewMessage};
use chitchat_relay::hub::{Hub, Outbound};
use chitchat_relay::metrics::Metrics;
use chitchat_relay::tls::{CertSource, ServedCert, provider};
use chitchat_relay::transport::Conn;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::sync::mpsc;

/// Room sizes measured: a small group, fanout-small's and fanout-large's rooms.
const ROOM_SIZES: &[usize] = &[10, 200, 1000];

/// Queue length per member: far above the one message in flight per iteration.
const QUEUE_LEN: usize = 1024;

/// Messages published per iteration of the broker benchmark: the writer thread commits
/// them as a group, as it does under load.
const PUBLISH_BATCH: usize = 64;

/// A real loopback QUIC connection (server side), plus what keeps it open.
struct Loopback {
    conn: quinn::Connection,
    _client: quinn::Connection,
    _endpoints: (quinn::Endpoint, quinn::Endpoint),
}

async fn loopback(certs: &std::path::Path) -> Loopback {
    let cert = ServedCert::load(&CertSource::DevCa {
        dir: certs.to_path_buf(),
        names: vec!["localhost".into(), "127.0.0.1".into()],
    })
    .expect("dev certificate");
    let server_config = cert
        .server_config(Arc::new(quinn::TransportConfig::default()))
        .expect("server config");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let server = quinn::Endpoint::server(server_config, any).expect("server endpoint");
    let addr = server.local_addr().expect("server address");

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(certs.join("ca.pem")).expect("ca.pem");
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.expect("certificate")).expect("root");
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_CHITCHAT.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    let mut client = quinn::Endpoint::client(any).expect("client endpoint");
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    let connecting = client.connect(addr, "localhost").expect("connect");
    // Both handshakes progress together: the server's starts once it accepts.
    let accepting = async { server.accept().await.expect("incoming").await };
    let (client_conn, conn) = tokio::join!(connecting, accepting);
    let conn = conn.expect("server handshake");
    Loopback {
        conn,
        _client: client_conn.expect("client handshake"),
        _endpoints: (server, client),
    }
}

fn message(room: &str, seq: u64) -> Message {
    Message {
        room: room.into(),
        seq,
        epoch: 1,
        from: "p0".into(),
        ts: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        text: format!("m{seq}:123456789:{}", "x".repeat(84)),
    }
}

/// Drains every queue, as the room writers would; returns how many items were taken.
fn drain(queues: &mut [mpsc::Receiver<Outbound>]) -> usize {
    let mut n = 0;
    for q in queues.iter_mut() {
        while q.try_recv().is_ok() {
            n += 1;
        }
    }
    n
}

/// A hub with an embedded broker in `dir`, and `members` sessions in `room`.
async fn room_with_members(
    dir: &std::path::Path,
    conn: &quinn::Connection,
    room: &str,
    members: usize,
) -> (Arc<Hub>, Arc<EmbeddedBroker>, Vec<mpsc::Receiver<Outbound>>) {
    let metrics = Arc::new(Metrics::install());
    let hub = Hub::new("bench".into(), QUEUE_LEN, metrics);
    let sink: Arc<dyn Deliver> = hub.clone();
    let broker =
        Arc::new(EmbeddedBroker::open(dir, sink, "bench".into()).expect("embedded broker"));
    hub.set_broker(broker.clone());
    let mut queues = Vec::with_capacity(members);
    for i in 0..members {
        let joined = hub
            .join(
                room,
                i as u64 + 1,
                &format!("s{i}"),
                Conn::Quic(conn.clone()),
                Arc::default(),
            )
            .await
            .expect("join");
        queues.push(joined.queue);
    }
    drain(&mut queues);
    (hub, broker, queues)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("temp dir");
    let link = rt.block_on(loopback(&tmp.path().join("certs")));

    let mut group = c.benchmark_group("hub_fanout");
    for &n in ROOM_SIZES {
        let dir = tmp.path().join(format!("hub{n}"));
        let (hub, broker, mut queues) =
            rt.block_on(room_with_members(&dir, &link.conn, "bench", n));
        let msg = message("bench", 1);
        let mut seq = 1;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("deliver_and_dequeue", n), &n, |b, _| {
            b.iter(|| {
                seq += 1;
                let mut m = msg.clone();
                m.seq = seq;
                hub.message(&m);
                drain(&mut queues)
            })
        });
        rt.block_on(broker.close());
    }
    group.finish();

    let mut group = c.benchmark_group("embedded_publish");
    for &n in &[1usize, 200] {
        let dir = tmp.path().join(format!("pub{n}"));
        let (_hub, broker, mut queues) =
            rt.block_on(room_with_members(&dir, &link.conn, "bench", n));
        let text = format!("m0:123456789:{}", "x".repeat(86));
        group.throughput(Throughput::Elements(PUBLISH_BATCH as u64));
        group.bench_with_input(BenchmarkId::new("publish_store_fanout", n), &n, |b, _| {
            b.iter(|| {
                rt.block_on(async {
                    let stored: Vec<_> = (0..PUBLISH_BATCH)
                        .map(|_| {
                            broker.publish(NewMessage {
                                room: "bench".into(),
                                from: "p0".into(),
                                text: text.clone(),
                                send_id: None,
                            })
                        })
                        .collect();
                    for s in stored {
                        s.await.expect("stored");
                    }
                });
                drain(&mut queues)
            })
        });
        rt.block_on(broker.close());
    }
    group.finish();
}

criterion_group!(fanout, benches);
criterion_main!(fanout);
