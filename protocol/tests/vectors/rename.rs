//! Version 3's rename frames as vectors: the request, its answer, and the room frame other
//! members receive; and the room's topic frame.

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

/// What members of the renamed session's rooms receive, and a room's topic (the other
/// room frame of version 3).
pub fn room() -> Vec<(&'static str, RoomFrame)> {
    vec![
        (
            "room-renamed",
            RoomFrame::Renamed {
                from: "ada".into(),
                to: "Zoë".into(),
            },
        ),
        (
            "room-topic",
            RoomFrame::Topic {
                topic: "Release planning, Thursdays".into(),
                by: "ada".into(),
            },
        ),
        (
            "room-topic-at-join",
            RoomFrame::Topic {
                topic: "Zoë's room".into(),
                by: String::new(),
            },
        ),
    ]
}
