//! Version 3's rename frames as vectors: the request, its answer, and the room frame other
//! members receive.

use chitchat_protocol::{ClientFrame, RoomFrame, ServerFrame};

/// Rename requests.
pub fn client() -> Vec<(&'static str, ClientFrame)> {
    vec![
        (
            "rename",
            ClientFrame::Rename {
                id: 17,
                nick: "grace".into(),
            },
        ),
        (
            "rename-unicode",
            ClientFrame::Rename {
                id: 300,
                nick: "Zoë".into(),
            },
        ),
    ]
}

/// Rename answers.
pub fn server() -> Vec<(&'static str, ServerFrame)> {
    vec![(
        "renamed",
        ServerFrame::Renamed {
            id: 17,
            nick: "grace".into(),
        },
    )]
}

/// What members of the renamed session's rooms receive.
pub fn room() -> Vec<(&'static str, RoomFrame)> {
    vec![(
        "room-renamed",
        RoomFrame::Renamed {
            from: "ada".into(),
            to: "Zoë".into(),
        },
    )]
}
