//! Protocol test vectors: the bytes of representative frames, with their meaning as JSON,
//! kept in protocol/vectors/frames.json. The web client's codec tests decode and encode the
//! same file, so the Rust and JavaScript codecs cannot drift apart.
//!
//! This test fails when the code and the file disagree; after an intended wire change run
//! `UPDATE_VECTORS=1 cargo test -p chitchat-protocol --test vectors` and commit the file.

use chitchat_protocol::*;
use serde_json::{Value, json};

#[path = "vectors/entries.rs"]
mod entries;
#[path = "vectors/markers.rs"]
mod markers;
#[path = "vectors/rename.rs"]
mod rename;

fn msg(seq: u64, from: &str, text: &str) -> Message {
    Message {
        room: "lobby".into(),
        seq,
        epoch: 1_764_000_000_000,
        from: from.into(),
        ts: 1_764_000_123_456,
        text: text.into(),
    }
}

/// (name, channel, value as JSON, encoded bytes) for every valid vector.
fn valid_vectors() -> Vec<(String, &'static str, Value, Vec<u8>)> {
    let mut out = Vec::new();
    fn push<T: Frame>(
        out: &mut Vec<(String, &'static str, Value, Vec<u8>)>,
        name: &str,
        channel: &'static str,
        v: T,
    ) {
        let bytes = if channel.ends_with("datagram") {
            encode_datagram(&v).unwrap()
        } else {
            encode_frame(&v).unwrap()
        };
        out.push((
            name.into(),
            channel,
            serde_json::to_value(&v).unwrap(),
            bytes,
        ));
    }
    let c = "client";
    push(
        &mut out,
        "hello",
        c,
        ClientFrame::Hello(Hello {
            version: 1,
            nick: "ada".into(),
            token: None,
        }),
    );
    push(
        &mut out,
        "hello-token-unicode",
        c,
        ClientFrame::Hello(Hello {
            version: 1,
            nick: "Zoë".into(),
            token: Some("t0k3n".into()),
        }),
    );
    push(
        &mut out,
        "join-live",
        c,
        ClientFrame::Join {
            id: 1,
            room: "lobby".into(),
            resume: None,
        },
    );
    push(
        &mut out,
        "join-resume",
        c,
        ClientFrame::Join {
            id: 2,
            room: "lobby".into(),
            resume: Some(ResumePoint {
                epoch: 1_764_000_000_000,
                seq: 300,
            }),
        },
    );
    push(
        &mut out,
        "leave",
        c,
        ClientFrame::Leave {
            id: 3,
            room: "lobby".into(),
        },
    );
    push(
        &mut out,
        "send",
        c,
        ClientFrame::Send {
            id: 250,
            room: "lobby".into(),
            text: "hi".into(),
        },
    );
    push(
        &mut out,
        "send-id-251",
        c,
        ClientFrame::Send {
            id: 251,
            room: "r".into(),
            text: "héllo\nworld ✓".into(),
        },
    );
    push(
        &mut out,
        "send-id-65536",
        c,
        ClientFrame::Send {
            id: 65_536,
            room: "r".into(),
            text: "x".into(),
        },
    );
    push(
        &mut out,
        "send-once",
        c,
        ClientFrame::SendOnce {
            id: 252,
            room: "lobby".into(),
            text: "hi".into(),
            send_id: 0x001f_ffff_ffff_ffff,
        },
    );
    push(
        &mut out,
        "history-newest",
        c,
        ClientFrame::History {
            id: 4,
            room: "lobby".into(),
            before: None,
            limit: 50,
        },
    );
    push(
        &mut out,
        "history-before",
        c,
        ClientFrame::History {
            id: 5,
            room: "lobby".into(),
            before: Some(1000),
            limit: 300,
        },
    );
    push(
        &mut out,
        "who",
        c,
        ClientFrame::Who {
            id: 6,
            room: "lobby".into(),
        },
    );
    push(&mut out, "ping", c, ClientFrame::Ping { id: 4_294_967_295 });
    push(
        &mut out,
        "refresh",
        c,
        ClientFrame::Refresh {
            id: 7,
            token: "eyJhbGciOiJIUzI1NiJ9.e30.sig".into(),
        },
    );
    push(
        &mut out,
        "list-rooms",
        c,
        ClientFrame::ListRooms {
            id: 8,
            search: "deploy".into(),
            after: Some("lobby".into()),
            limit: 50,
        },
    );
    push(
        &mut out,
        "create-room",
        c,
        ClientFrame::CreateRoom {
            id: 9,
            room: "ops".into(),
            topic: "Deploys and incidents".into(),
        },
    );
    push(
        &mut out,
        "set-topic",
        c,
        ClientFrame::SetTopic {
            id: 10,
            room: "ops".into(),
            topic: String::new(),
        },
    );
    push(
        &mut out,
        "hello-guest-secret",
        c,
        ClientFrame::Hello(Hello {
            version: 1,
            nick: "ada".into(),
            token: Some("k".repeat(43)),
        }),
    );
    let s = "server";
    push(
        &mut out,
        "welcome",
        s,
        ServerFrame::Welcome(Welcome {
            version: 1,
            node_id: "relay-1".into(),
            session_id: 42,
            nick: "ada".into(),
            limits: Limits {
                max_text_bytes: 4096,
                max_rooms: 100,
                msgs_per_sec: 30,
                msgs_burst: 60,
                history_page: 100,
            },
        }),
    );
    push(
        &mut out,
        "joined-live",
        s,
        ServerFrame::Joined(Joined {
            id: 1,
            room: "lobby".into(),
            epoch: 1_764_000_000_000,
            last_seq: 0,
            members: vec!["ada".into(), "bob".into()],
            resume: ResumeOutcome::Live,
        }),
    );
    push(
        &mut out,
        "joined-resumed",
        s,
        ServerFrame::Joined(Joined {
            id: 2,
            room: "lobby".into(),
            epoch: 1_764_000_000_000,
            last_seq: 320,
            members: vec!["ada".into()],
            resume: ResumeOutcome::Resumed,
        }),
    );
    push(
        &mut out,
        "joined-epoch-changed",
        s,
        ServerFrame::Joined(Joined {
            id: 2,
            room: "lobby".into(),
            epoch: 7,
            last_seq: 3,
            members: vec![],
            resume: ResumeOutcome::EpochChanged,
        }),
    );
    push(
        &mut out,
        "joined-truncated",
        s,
        ServerFrame::Joined(Joined {
            id: 2,
            room: "lobby".into(),
            epoch: 7,
            last_seq: 20_000,
            members: vec!["ada".into()],
            resume: ResumeOutcome::Truncated { first_seq: 10_001 },
        }),
    );
    push(
        &mut out,
        "left",
        s,
        ServerFrame::Left {
            id: 3,
            room: "lobby".into(),
        },
    );
    push(
        &mut out,
        "sent",
        s,
        ServerFrame::Sent {
            id: 250,
            room: "lobby".into(),
            epoch: 1_764_000_000_000,
            seq: 301,
            ts: 1_764_000_123_456,
        },
    );
    push(
        &mut out,
        "history",
        s,
        ServerFrame::History(HistoryPage {
            id: 4,
            room: "lobby".into(),
            epoch: 1_764_000_000_000,
            messages: vec![msg(1, "ada", "first"), msg(2, "bob", "second ✓")],
            more: false,
        }),
    );
    push(
        &mut out,
        "members",
        s,
        ServerFrame::Members {
            id: 6,
            room: "lobby".into(),
            members: vec!["ada".into(), "Zoë".into()],
        },
    );
    push(
        &mut out,
        "pong",
        s,
        ServerFrame::Pong {
            id: 7,
            ts: 1_764_000_123_456,
        },
    );
    push(
        &mut out,
        "error-text-too-long",
        s,
        ServerFrame::Error(ErrorFrame {
            id: 250,
            code: ErrorCode::TEXT_TOO_LONG,
            message: "message is 5000 bytes; the most is 4096".into(),
        }),
    );
    push(
        &mut out,
        "error-slow-consumer",
        s,
        ServerFrame::Error(ErrorFrame {
            id: 0,
            code: ErrorCode::SLOW_CONSUMER,
            message: "too slow reading messages".into(),
        }),
    );
    push(
        &mut out,
        "goaway",
        s,
        ServerFrame::GoAway {
            reconnect_ms: 250,
            message: "relay shutting down".into(),
        },
    );
    push(
        &mut out,
        "refreshed",
        s,
        ServerFrame::Refreshed {
            id: 7,
            expires_ms: 1_764_003_600_000,
        },
    );
    push(
        &mut out,
        "token-expiring",
        s,
        ServerFrame::TokenExpiring {
            expires_ms: 1_764_003_600_000,
        },
    );
    let ops = RoomSummary {
        name: "ops".into(),
        topic: "Deploys and incidents".into(),
        members: 3,
        last_seq: 17,
        last_activity_ms: 1_764_003_600_000,
        created_by: "ada".into(),
    };
    push(
        &mut out,
        "rooms",
        s,
        ServerFrame::Rooms {
            id: 8,
            rooms: vec![
                ops.clone(),
                RoomSummary {
                    name: "quiet".into(),
                    topic: String::new(),
                    members: 0,
                    last_seq: 0,
                    last_activity_ms: 0,
                    created_by: "bob".into(),
                },
            ],
            next: Some("quiet".into()),
        },
    );
    push(
        &mut out,
        "room-info",
        s,
        ServerFrame::RoomInfo { id: 9, room: ops },
    );
    let r = "room";
    push(
        &mut out,
        "room-open",
        r,
        RoomFrame::Open {
            room: "lobby".into(),
            epoch: 1_764_000_000_000,
        },
    );
    push(
        &mut out,
        "room-message",
        r,
        RoomFrame::Message(msg(301, "ada", "hi")),
    );
    push(
        &mut out,
        "room-message-big-seq",
        r,
        RoomFrame::Message(Message {
            seq: 5_000_000_000,
            ..msg(0, "bob", "late")
        }),
    );
    push(
        &mut out,
        "room-presence-join",
        r,
        RoomFrame::Presence {
            nick: "bob".into(),
            joined: true,
        },
    );
    push(
        &mut out,
        "room-presence-leave",
        r,
        RoomFrame::Presence {
            nick: "bob".into(),
            joined: false,
        },
    );
    push(
        &mut out,
        "typing-up",
        "client_datagram",
        ClientDatagram::Typing {
            room: "lobby".into(),
        },
    );
    push(
        &mut out,
        "typing-down",
        "server_datagram",
        ServerDatagram::Typing {
            room: "lobby".into(),
            nick: "ada".into(),
        },
    );
    for (name, frame) in entries::client() {
        push(&mut out, name, c, frame);
    }
    for (name, frame) in entries::server() {
        push(&mut out, name, s, frame);
    }
    for (name, frame) in entries::room() {
        push(&mut out, name, r, frame);
    }
    for (name, frame) in rename::client() {
        push(&mut out, name, c, frame);
    }
    for (name, frame) in rename::server() {
        push(&mut out, name, s, frame);
    }
    for (name, frame) in rename::room() {
        push(&mut out, name, r, frame);
    }
    for (name, frame) in markers::client() {
        push(&mut out, name, c, frame);
    }
    for (name, frame) in markers::server() {
        push(&mut out, name, s, frame);
    }
    out
}

/// Byte strings every decoder must refuse, with the error code a relay closes with.
fn invalid_vectors() -> Vec<(&'static str, &'static str, Vec<u8>, ErrorCode)> {
    let mut over = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
    over.push(0);
    vec![
        (
            "length-over-limit",
            "client",
            over,
            ErrorCode::FRAME_TOO_LARGE,
        ),
        (
            "empty-body",
            "client",
            vec![0, 0, 0, 0],
            ErrorCode::BAD_FRAME,
        ),
        (
            "unknown-type",
            "client",
            vec![0, 0, 0, 1, 200],
            ErrorCode::UNKNOWN_FRAME,
        ),
        // Ping whose id varint is cut short.
        (
            "truncated-body",
            "client",
            vec![0, 0, 0, 2, 6, 252],
            ErrorCode::BAD_FRAME,
        ),
        // Leave { id: 1, room: [0xff] }
        (
            "invalid-utf8",
            "client",
            vec![0, 0, 0, 4, 2, 1, 1, 0xff],
            ErrorCode::INVALID_UTF8,
        ),
        // Ping { id: 1 } plus a stray byte.
        (
            "trailing-bytes",
            "client",
            vec![0, 0, 0, 3, 6, 1, 0],
            ErrorCode::BAD_FRAME,
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn document() -> Value {
    let valid: Vec<Value> = valid_vectors()
        .into_iter()
        .map(|(name, channel, value, bytes)| json!({"name": name, "channel": channel, "hex": hex(&bytes), "value": value}))
        .collect();
    let invalid: Vec<Value> = invalid_vectors()
        .into_iter()
        .map(|(name, channel, bytes, code)| json!({"name": name, "channel": channel, "hex": hex(&bytes), "error": code.name(), "code": code.0}))
        .collect();
    let skipped: Vec<Value> = entries::skipped()
        .into_iter()
        .map(|(name, bytes)| json!({"name": name, "channel": "room", "hex": hex(&bytes)}))
        .collect();
    let codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"code": c.0, "name": c.name(), "description": c.description(), "fatal": c.is_fatal()}))
        .collect();
    json!({
        "comment": "Generated by protocol/tests/vectors.rs; see docs/protocol.md. Stream frames include their 4-byte length prefix; datagrams have none.",
        "protocol_version": PROTOCOL_VERSION,
        "min_protocol_version": MIN_PROTOCOL_VERSION,
        "max_edits": MAX_EDITS,
        "reactions": REACTIONS,
        "max_frame_len": MAX_FRAME_LEN,
        "max_datagram_len": MAX_DATAGRAM_LEN,
        "error_codes": codes,
        "valid": valid,
        "invalid": invalid,
        "skipped": skipped,
    })
}

#[test]
fn every_valid_vector_round_trips() {
    for (name, channel, _, bytes) in valid_vectors() {
        let reencoded = match channel {
            "client" => encode_frame(&decode_stream::<ClientFrame>(&bytes)).unwrap(),
            "server" => encode_frame(&decode_stream::<ServerFrame>(&bytes)).unwrap(),
            "room" => encode_frame(&decode_stream::<RoomFrame>(&bytes)).unwrap(),
            "client_datagram" => {
                encode_datagram(&decode_datagram::<ClientDatagram>(&bytes).unwrap()).unwrap()
            }
            "server_datagram" => {
                encode_datagram(&decode_datagram::<ServerDatagram>(&bytes).unwrap()).unwrap()
            }
            other => panic!("unknown channel {other}"),
        };
        assert_eq!(reencoded, bytes, "{name}");
    }
}

fn decode_stream<T: Frame>(bytes: &[u8]) -> T {
    let mut buf = FrameBuffer::new();
    buf.extend(bytes);
    let frame = buf.next_frame::<T>().unwrap().expect("a whole frame");
    buf.finish().unwrap();
    frame
}

#[test]
fn room_frames_of_a_later_version_are_passed_over() {
    let open = encode_frame(&RoomFrame::Open {
        room: "lobby".into(),
        epoch: 1,
    })
    .unwrap();
    for (name, bytes) in entries::skipped() {
        let mut buf = FrameBuffer::new();
        buf.extend(&bytes);
        assert_eq!(buf.next_frame::<RoomFrame>(), Ok(None), "{name}");
        buf.extend(&bytes);
        buf.extend(&open);
        let next = buf.next_frame::<RoomFrame>().expect(name);
        assert!(matches!(next, Some(RoomFrame::Open { .. })), "{name}");
        buf.finish().unwrap();
        // Other streams are not forward compatible: the same bytes are an error there.
        let mut control = FrameBuffer::new();
        control.extend(&bytes);
        assert!(control.next_frame::<ServerFrame>().is_err(), "{name}");
    }
}

#[test]
fn every_invalid_vector_is_refused_with_its_code() {
    for (name, _, bytes, code) in invalid_vectors() {
        let mut buf = FrameBuffer::new();
        buf.extend(&bytes);
        let err = buf.next_frame::<ClientFrame>().expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
    }
}

#[test]
fn vectors_file_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/frames.json");
    let expected = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "protocol/vectors/frames.json is out of date with the code; if the wire change is intended, \
         run `UPDATE_VECTORS=1 cargo test -p chitchat-protocol --test vectors`, update docs/protocol.md, and commit"
    );
}
