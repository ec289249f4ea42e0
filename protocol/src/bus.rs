//! The Redis bus encoding (docs/protocol.md, "Between relays"): [`BusFrame`], what relays
//! send each other on a room's channel, and the byte pieces the relays' scripts complete
//! inside Redis. No I/O: the relay publishes and reads these bytes.

use serde::{Deserialize, Serialize};

use crate::{Entry, EntryBody};

/// The version byte every [`BusFrame`] starts with. A relay drops frames of another
/// version, so a mixed-version cluster loses live delivery between versions (history
/// still fills the gap), never misreads a frame.
pub const BUS_VERSION: u8 = 1;

/// One frame on a room's channel, bincode-encoded with [`crate::CONFIG`]
/// (little-endian, varint integers): a `u8` version ([`BUS_VERSION`]), then `origin` and
/// `room` as strings (varint length, UTF-8 bytes), then the body (varint variant index and
/// its fields, in declaration order).
///
/// Message frames are assembled by the relay's publish script inside Redis, which writes the
/// varints for seq, epoch and ts itself between [`message_prefix`] and [`message_suffix`];
/// the layout above is what makes that possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusFrame {
    /// [`BUS_VERSION`].
    pub version: u8,
    /// The node id of the relay that sent it.
    pub origin: String,
    /// The room it belongs to (also named by the channel; a frame whose room differs from
    /// its channel's is dropped).
    pub room: String,
    /// What it carries.
    pub body: BusBody,
}

/// What a [`BusFrame`] carries. Variant indexes are part of the format: append new
/// variants, never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusBody {
    /// A stored message (variant 0).
    Message {
        seq: u64,
        epoch: u64,
        /// Redis's time when the message was stored, ms since the Unix epoch.
        ts: u64,
        from: String,
        text: String,
    },
    /// The relay's `Signal::Presence` (variant 1); not stored.
    Presence {
        node: String,
        nick: String,
        joined: bool,
    },
    /// The relay's `Signal::Typing` (variant 2); not stored.
    Typing { nick: String },
    /// A stored log entry other than a plain text (variant 3): a reply or a change,
    /// assembled by the relay's entry script like `Message` by the publish script.
    Entry {
        seq: u64,
        epoch: u64,
        ts: u64,
        from: String,
        body: EntryBody,
    },
    /// The relay's `Signal::Renamed` (variant 4); not stored.
    Renamed { from: String, to: String },
    /// The relay's `Signal::Topic` (variant 5); not stored (the room's record is).
    Topic { topic: String, by: String },
    /// The relay's `Signal::ReadMarker` (variant 6); not stored here (the marker itself is
    /// stored before it is signalled).
    ReadMarker {
        user: String,
        seq: u64,
        node: String,
        session: u64,
    },
}

/// Why bytes on a channel are not a frame this relay can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusFrameError {
    /// No bytes at all.
    #[error("empty frame")]
    Empty,
    /// The first byte is not [`BUS_VERSION`] (a relay of another version sent it).
    #[error("frame version {0}; this relay speaks {BUS_VERSION}")]
    Version(u8),
    /// The bytes do not decode as a [`BusFrame`], or bytes are left over.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl BusFrame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a whole frame; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<BusFrame, BusFrameError> {
        match bytes.first() {
            None => return Err(BusFrameError::Empty),
            Some(&v) if v != BUS_VERSION => return Err(BusFrameError::Version(v)),
            Some(_) => {}
        }
        let (frame, used): (BusFrame, usize) =
            bincode::serde::decode_from_slice(bytes, crate::CONFIG)
                .map_err(|e| BusFrameError::Malformed(e.to_string()))?;
        if used != bytes.len() {
            return Err(BusFrameError::Malformed(format!(
                "{} bytes left over",
                bytes.len() - used
            )));
        }
        Ok(frame)
    }

    /// The log entry this frame carries, if it carries one.
    pub fn entry(&self) -> Option<Entry> {
        let (seq, epoch, ts, from, body) = match &self.body {
            BusBody::Message {
                seq,
                epoch,
                ts,
                from,
                text,
            } => {
                let body = EntryBody::Text {
                    text: text.clone(),
                    reply_to: None,
                };
                (seq, epoch, ts, from, body)
            }
            BusBody::Entry {
                seq,
                epoch,
                ts,
                from,
                body,
            } => (seq, epoch, ts, from, body.clone()),
            _ => return None,
        };
        Some(Entry {
            room: self.room.clone(),
            seq: *seq,
            epoch: *epoch,
            from: from.clone(),
            ts: *ts,
            body,
        })
    }
}

/// The bincode bytes of `value`. Encoding into a `Vec` fails only for types serde cannot
/// describe (none here), so a failure is a bug and yields an empty frame, which every
/// receiver drops.
fn encode(value: &impl Serialize) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, crate::CONFIG).unwrap_or_default()
}

/// The bytes of a message frame before seq (version, origin, room, variant index 0); the
/// publish script appends seq, epoch and ts, then [`message_suffix`].
pub fn message_prefix(origin: &str, room: &str) -> Vec<u8> {
    encode(&(BUS_VERSION, origin, room, 0u32))
}

/// The bytes of a message frame after ts (sender, text).
pub fn message_suffix(from: &str, text: &str) -> Vec<u8> {
    encode(&(from, text))
}

/// The bytes of an entry frame before seq (version, origin, room, variant index 3); the
/// entry script appends seq, epoch and ts, then [`entry_suffix`].
pub fn entry_prefix(origin: &str, room: &str) -> Vec<u8> {
    encode(&(BUS_VERSION, origin, room, 3u32))
}

/// The bytes of an entry frame after ts (sender, body).
pub fn entry_suffix(from: &str, body: &EntryBody) -> Vec<u8> {
    encode(&(from, body))
}

/// The bytes of a presence frame before its node (version, origin, room, variant index 1);
/// the presence scripts append node, nick and the joined flag.
pub fn presence_prefix(origin: &str, room: &str) -> Vec<u8> {
    encode(&(BUS_VERSION, origin, room, 1u32))
}

#[cfg(test)]
mod tests {
    use crate::MAX_EPOCH;

    use super::*;

    /// The script's part of a message frame: three varints in bincode's encoding.
    fn script_varints(seq: u64, epoch: u64, ts: u64) -> Vec<u8> {
        encode(&(seq, epoch, ts))
    }

    #[test]
    fn message_frames_split_where_the_script_fills_in() {
        for (seq, epoch, ts) in [
            (1, 1, 0),
            (250, 251, 65_535),
            (65_536, (1 << 32) - 1, 1 << 32),
            (MAX_EPOCH, MAX_EPOCH, 1_760_000_000_000),
        ] {
            let frame = BusFrame {
                version: BUS_VERSION,
                origin: "node-a".into(),
                room: "lobby".into(),
                body: BusBody::Message {
                    seq,
                    epoch,
                    ts,
                    from: "Zoë".into(),
                    text: "héllo\nworld".into(),
                },
            };
            let mut assembled = message_prefix("node-a", "lobby");
            assembled.extend(script_varints(seq, epoch, ts));
            assembled.extend(message_suffix("Zoë", "héllo\nworld"));
            assert_eq!(assembled, frame.encode());
            assert_eq!(BusFrame::decode(&assembled), Ok(frame));
        }
    }

    #[test]
    fn entry_frames_split_where_the_script_fills_in() {
        let body = EntryBody::React {
            target: 7,
            emoji: crate::REACTIONS[1].into(),
            on: true,
        };
        let frame = BusFrame {
            version: BUS_VERSION,
            origin: "node-a".into(),
            room: "lobby".into(),
            body: BusBody::Entry {
                seq: 70_000,
                epoch: MAX_EPOCH,
                ts: 1_760_000_000_000,
                from: "Zoë".into(),
                body: body.clone(),
            },
        };
        let mut assembled = entry_prefix("node-a", "lobby");
        assembled.extend(script_varints(70_000, MAX_EPOCH, 1_760_000_000_000));
        assembled.extend(entry_suffix("Zoë", &body));
        assert_eq!(assembled, frame.encode());
        let entry = BusFrame::decode(&assembled).unwrap().entry().unwrap();
        assert_eq!((entry.seq, entry.body), (70_000, body));
    }

    #[test]
    fn bad_frames_are_refused() {
        let frame = BusFrame {
            version: BUS_VERSION,
            origin: "n".into(),
            room: "r".into(),
            body: BusBody::Typing { nick: "ann".into() },
        };
        let bytes = frame.encode();
        assert_eq!(BusFrame::decode(&[]), Err(BusFrameError::Empty));
        let mut other_version = bytes.clone();
        other_version[0] = BUS_VERSION + 1;
        assert_eq!(
            BusFrame::decode(&other_version),
            Err(BusFrameError::Version(BUS_VERSION + 1))
        );
        assert!(matches!(
            BusFrame::decode(&bytes[..bytes.len() - 1]),
            Err(BusFrameError::Malformed(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            BusFrame::decode(&longer),
            Err(BusFrameError::Malformed(_))
        ));
        let mut unknown_variant = message_prefix("n", "r");
        *unknown_variant.last_mut().expect("prefix is not empty") = 9;
        assert!(matches!(
            BusFrame::decode(&unknown_variant),
            Err(BusFrameError::Malformed(_))
        ));
    }

    #[test]
    fn presence_frames_split_where_the_scripts_fill_in() {
        for (node, nick, joined) in [("relay-1", "ann", true), ("n/ö", "Zoë", false)] {
            let frame = BusFrame {
                version: BUS_VERSION,
                origin: "relay-2".into(),
                room: "lobby".into(),
                body: BusBody::Presence {
                    node: node.into(),
                    nick: nick.into(),
                    joined,
                },
            };
            let mut assembled = presence_prefix("relay-2", "lobby");
            assembled.extend(encode(&(node, nick, joined)));
            assert_eq!(assembled, frame.encode());
        }
    }
}
