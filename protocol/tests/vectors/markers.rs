//! Version 3's read marker frames as vectors: the request and the marker a session hears
//! (the answer with the request's id, or id 0 for another device's marker).

use chitchat_protocol::{ClientFrame, ServerFrame};

/// MarkRead requests.
pub fn client() -> Vec<(&'static str, ClientFrame)> {
    vec![(
        "mark-read",
        ClientFrame::MarkRead {
            id: 21,
            room: "lobby".into(),
            seq: 300,
        },
    )]
}

/// ReadMarker frames.
pub fn server() -> Vec<(&'static str, ServerFrame)> {
    vec![
        (
            "read-marker",
            ServerFrame::ReadMarker {
                id: 21,
                room: "lobby".into(),
                seq: 300,
            },
        ),
        (
            "read-marker-other-device",
            ServerFrame::ReadMarker {
                id: 0,
                room: "lobby".into(),
                seq: 70_000,
            },
        ),
    ]
}
