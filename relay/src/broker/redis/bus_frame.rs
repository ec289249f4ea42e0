//! The relay's side of the bus encoding ([`chitchat_protocol::bus`]): the frame of a
//! [`Signal`], and the signal a frame carries.

use chitchat_protocol::bus::{BUS_VERSION, BusBody, BusFrame};

use crate::broker::api::Signal;

/// The frame of `signal`, sent by `origin` in `room`.
pub(super) fn signal_frame(origin: &str, room: &str, signal: Signal) -> BusFrame {
    let body = match signal {
        Signal::Presence { node, nick, joined } => BusBody::Presence { node, nick, joined },
        Signal::Typing { nick } => BusBody::Typing { nick },
        Signal::Renamed { from, to } => BusBody::Renamed { from, to },
        Signal::Topic { topic, by } => BusBody::Topic { topic, by },
        Signal::ReadMarker {
            user,
            seq,
            node,
            session,
        } => BusBody::ReadMarker {
            user,
            seq,
            node,
            session,
        },
    };
    BusFrame {
        version: BUS_VERSION,
        origin: origin.to_owned(),
        room: room.to_owned(),
        body,
    }
}

/// The signal this frame carries, if it carries one.
pub fn signal_of(frame: &BusFrame) -> Option<Signal> {
    match &frame.body {
        BusBody::Presence { node, nick, joined } => Some(Signal::Presence {
            node: node.clone(),
            nick: nick.clone(),
            joined: *joined,
        }),
        BusBody::Typing { nick } => Some(Signal::Typing { nick: nick.clone() }),
        BusBody::Renamed { from, to } => Some(Signal::Renamed {
            from: from.clone(),
            to: to.clone(),
        }),
        BusBody::Topic { topic, by } => Some(Signal::Topic {
            topic: topic.clone(),
            by: by.clone(),
        }),
        BusBody::ReadMarker {
            user,
            seq,
            node,
            session,
        } => Some(Signal::ReadMarker {
            user: user.clone(),
            seq: *seq,
            node: node.clone(),
            session: *session,
        }),
        BusBody::Message { .. } | BusBody::Entry { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bincode bytes of `value`, as the bus encodes them.
    fn encode(value: &impl serde::Serialize) -> Vec<u8> {
        bincode::serde::encode_to_vec(value, chitchat_protocol::CONFIG).expect("encodes")
    }

    #[test]
    fn a_rename_crosses_the_bus_as_variant_4() {
        let signal = Signal::Renamed {
            from: "ada".into(),
            to: "Zoë".into(),
        };
        let bytes = signal_frame("relay-1", "lobby", signal.clone()).encode();
        let mut head = encode(&(BUS_VERSION, "relay-1", "lobby", 4u32));
        head.extend(encode(&("ada", "Zoë")));
        assert_eq!(bytes, head);
        let frame = BusFrame::decode(&bytes).expect("a frame");
        assert_eq!(signal_of(&frame), Some(signal));
        assert_eq!(frame.entry(), None);
    }

    #[test]
    fn a_topic_crosses_the_bus_as_variant_5() {
        let signal = Signal::Topic {
            topic: "Release planning".into(),
            by: "Zoë".into(),
        };
        let bytes = signal_frame("relay-1", "lobby", signal.clone()).encode();
        let mut head = encode(&(BUS_VERSION, "relay-1", "lobby", 5u32));
        head.extend(encode(&("Release planning", "Zoë")));
        assert_eq!(bytes, head);
        let frame = BusFrame::decode(&bytes).expect("a frame");
        assert_eq!(signal_of(&frame), Some(signal));
        assert_eq!(frame.entry(), None);
    }

    #[test]
    fn a_read_marker_crosses_the_bus_as_variant_6() {
        let signal = Signal::ReadMarker {
            user: "guest:ada".into(),
            seq: 300,
            node: "relay-2".into(),
            session: 7,
        };
        let bytes = signal_frame("relay-2", "lobby", signal.clone()).encode();
        let mut head = encode(&(BUS_VERSION, "relay-2", "lobby", 6u32));
        head.extend(encode(&("guest:ada", 300u64, "relay-2", 7u64)));
        assert_eq!(bytes, head);
        let frame = BusFrame::decode(&bytes).expect("a frame");
        assert_eq!(signal_of(&frame), Some(signal));
        assert_eq!(frame.entry(), None);
    }
}
