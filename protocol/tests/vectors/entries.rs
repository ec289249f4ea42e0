//! The vectors of protocol version 2's log entries: the frames, and room frames of a later
//! version that every reader passes over.

use chitchat_protocol::*;

const EPOCH: u64 = 1_764_000_000_000;
const TS: u64 = 1_764_000_123_456;

fn entry(seq: u64, from: &str, body: EntryBody) -> Entry {
    Entry {
        room: "lobby".into(),
        seq,
        epoch: EPOCH,
        from: from.into(),
        ts: TS + seq,
        body,
    }
}

/// Client frames of version 2.
pub fn client() -> Vec<(&'static str, ClientFrame)> {
    vec![
        (
            "hello-v2",
            ClientFrame::Hello(Hello {
                version: 2,
                nick: "ada".into(),
                token: None,
            }),
        ),
        (
            "post-reply",
            ClientFrame::Post {
                id: 11,
                room: "lobby".into(),
                text: "agreed".into(),
                send_id: 77,
                reply_to: Some(301),
            },
        ),
        (
            "post-plain",
            ClientFrame::Post {
                id: 12,
                room: "lobby".into(),
                text: "hi".into(),
                send_id: 0,
                reply_to: None,
            },
        ),
        (
            "edit",
            ClientFrame::Edit {
                id: 13,
                room: "lobby".into(),
                seq: 301,
                text: "hi, all".into(),
            },
        ),
        (
            "delete",
            ClientFrame::Delete {
                id: 14,
                room: "lobby".into(),
                seq: 301,
            },
        ),
        (
            "react-on",
            ClientFrame::React {
                id: 15,
                room: "lobby".into(),
                seq: 301,
                emoji: REACTIONS[1].into(),
                on: true,
            },
        ),
        (
            "react-off",
            ClientFrame::React {
                id: 16,
                room: "lobby".into(),
                seq: 301,
                emoji: REACTIONS[0].into(),
                on: false,
            },
        ),
    ]
}

/// Server frames of version 2.
pub fn server() -> Vec<(&'static str, ServerFrame)> {
    let edited = MessageState {
        seq: 301,
        from: "ada".into(),
        ts: TS,
        text: "hi, all".into(),
        reply_to: None,
        edited_ts: TS + 302,
        deleted: false,
        reactions: vec![
            ReactionCount {
                emoji: REACTIONS[0].into(),
                nicks: vec!["bob".into(), "cy".into()],
            },
            ReactionCount {
                emoji: REACTIONS[7].into(),
                nicks: vec!["ada".into()],
            },
        ],
    };
    let tombstone = MessageState {
        seq: 303,
        from: "bob".into(),
        ts: TS + 303,
        text: String::new(),
        reply_to: Some(301),
        edited_ts: 0,
        deleted: true,
        reactions: vec![],
    };
    vec![
        (
            "welcome-v1",
            ServerFrame::Welcome(Welcome {
                version: 1,
                node_id: "relay-1".into(),
                session_id: 43,
                nick: "old".into(),
                limits: Limits {
                    max_text_bytes: 4096,
                    max_rooms: 100,
                    msgs_per_sec: 30,
                    msgs_burst: 60,
                    history_page: 100,
                },
            }),
        ),
        (
            "entries",
            ServerFrame::Entries(EntryPage {
                id: 4,
                room: "lobby".into(),
                epoch: EPOCH,
                messages: vec![edited, tombstone],
                more: true,
            }),
        ),
        (
            "error-not-author",
            ServerFrame::Error(ErrorFrame {
                id: 13,
                code: ErrorCode::NOT_AUTHOR,
                message: "only ada may edit message 301".into(),
            }),
        ),
    ]
}

/// Room frames of version 2.
pub fn room() -> Vec<(&'static str, RoomFrame)> {
    vec![
        (
            "room-entry-text",
            RoomFrame::Entry(entry(
                301,
                "ada",
                EntryBody::Text {
                    text: "hi".into(),
                    reply_to: None,
                },
            )),
        ),
        (
            "room-entry-reply",
            RoomFrame::Entry(entry(
                303,
                "bob",
                EntryBody::Text {
                    text: "yes".into(),
                    reply_to: Some(301),
                },
            )),
        ),
        (
            "room-entry-edit",
            RoomFrame::Entry(entry(
                302,
                "ada",
                EntryBody::Edit {
                    target: 301,
                    text: "hi, all".into(),
                },
            )),
        ),
        (
            "room-entry-delete",
            RoomFrame::Entry(entry(304, "bob", EntryBody::Delete { target: 303 })),
        ),
        (
            "room-entry-react",
            RoomFrame::Entry(entry(
                305,
                "cy",
                EntryBody::React {
                    target: 301,
                    emoji: REACTIONS[0].into(),
                    on: true,
                },
            )),
        ),
    ]
}

/// Room frames of a later version, which a reader passes over: (name, stream frame bytes).
pub fn skipped() -> Vec<(&'static str, Vec<u8>)> {
    // A text entry whose body kind (0) is rewritten to 9, a kind from the future.
    let mut entry = encode_frame(&RoomFrame::Entry(entry(
        306,
        "ada",
        EntryBody::Text {
            text: "x".into(),
            reply_to: None,
        },
    )))
    .unwrap();
    let kind = entry.len() - 4;
    assert_eq!(&entry[kind..], &[0, 1, b'x', 0]);
    entry[kind] = 9;
    vec![
        // Room frame type 9 with a body of three bytes.
        ("room-unknown-type", vec![0, 0, 0, 4, 9, 1, 2, 3]),
        ("room-entry-unknown-kind", entry),
    ]
}
