//! The load generator's side of the wire, kept lean: message texts as the workloads define
//! them, a zero-copy view of room frames, and a frame splitter that copies only frames cut
//! across reads.
//!
//! Room frames are decoded with the protocol's own bincode configuration into borrowed
//! twins of [`chitchat_protocol::RoomFrame`] (same variants, same fields, same order), so a
//! delivery costs no allocation; a test checks the twins against the real frames.

use std::fmt::Write as _;

use chitchat_protocol::{CONFIG, FrameError, LEN_PREFIX, MAX_FRAME_LEN};
use serde::Deserialize;

/// A room frame, borrowed from the bytes it was read from. Mirrors
/// [`chitchat_protocol::RoomFrame`] variant for variant.
#[derive(Debug, Deserialize)]
pub enum RoomFrameRef<'a> {
    /// The first frame of a room stream.
    Open {
        #[serde(borrow)]
        room: &'a str,
        epoch: u64,
    },
    /// A message.
    Message(#[serde(borrow)] MessageRef<'a>),
    /// A member joined or left.
    Presence {
        #[serde(borrow)]
        nick: &'a str,
        joined: bool,
    },
}

/// A message, borrowed. Mirrors [`chitchat_protocol::Message`] field for field.
#[derive(Debug, Deserialize)]
pub struct MessageRef<'a> {
    pub room: &'a str,
    pub seq: u64,
    pub epoch: u64,
    pub from: &'a str,
    pub ts: u64,
    pub text: &'a str,
}

/// Decodes one room frame body without copying.
pub fn decode_room_frame(body: &[u8]) -> Result<RoomFrameRef<'_>, FrameError> {
    let (frame, used) =
        bincode::serde::borrow_decode_from_slice::<RoomFrameRef<'_>, _>(body, CONFIG)
            .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Malformed(
            "bytes left over after the frame".into(),
        ));
    }
    Ok(frame)
}

/// Splits a byte stream into frame bodies. Bodies wholly inside one read are handed out in
/// place; only a frame cut across reads is copied.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    /// Feeds the bytes of one read; calls `each` with every whole frame body, in order.
    pub fn feed(
        &mut self,
        data: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        if self.pending.is_empty() {
            let used = split(data, &mut each)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            let used = split(&self.pending, &mut each)?;
            self.pending.drain(..used);
        }
        Ok(())
    }
}

/// Hands out every whole frame at the start of `data`; returns the bytes consumed.
fn split(
    data: &[u8],
    each: &mut impl FnMut(&[u8]) -> Result<(), FrameError>,
) -> Result<usize, FrameError> {
    let mut at = 0;
    while let Some(prefix) = data.get(at..at + LEN_PREFIX) {
        let mut len = [0u8; LEN_PREFIX];
        len.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        let Some(body) = data.get(at + LEN_PREFIX..at + LEN_PREFIX + len) else {
            break;
        };
        each(body)?;
        at += LEN_PREFIX + len;
    }
    Ok(at)
}

/// Which part of a run a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Delivered, not counted.
    Warmup,
    /// Counted.
    Measured,
}

/// What the load generator reads back from a delivered text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub phase: Phase,
    /// The global message index.
    pub k: u64,
    /// Send time, µs on the load process's clock.
    pub t_us: u64,
}

/// Writes the text of message `k` into `out` (cleared first): `<phase><k>:<t_us>:`
/// right-padded with `x` to exactly `bytes` bytes. Fails if the stamp does not fit.
pub fn write_text(out: &mut String, stamp: Stamp, bytes: usize) -> Result<(), TextTooShort> {
    out.clear();
    let phase = match stamp.phase {
        Phase::Warmup => 'w',
        Phase::Measured => 'm',
    };
    // Writing to a String cannot fail.
    let _ = write!(out, "{phase}{}:{}:", stamp.k, stamp.t_us);
    if out.len() > bytes {
        return Err(TextTooShort {
            needed: out.len(),
            bytes,
        });
    }
    out.extend(std::iter::repeat_n('x', bytes - out.len()));
    Ok(())
}

/// The text size is too small for the stamp it must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message text of {bytes} bytes cannot hold its {needed}-byte stamp")]
pub struct TextTooShort {
    pub needed: usize,
    pub bytes: usize,
}

/// Reads the stamp at the start of a text; `None` if the text is not one of ours.
pub fn parse_stamp(text: &str) -> Option<Stamp> {
    let bytes = text.as_bytes();
    let phase = match bytes.first()? {
        b'w' => Phase::Warmup,
        b'm' => Phase::Measured,
        _ => return None,
    };
    let (k, rest) = parse_u64(&bytes[1..])?;
    let (t_us, _) = parse_u64(rest)?;
    Some(Stamp { phase, k, t_us })
}

/// A decimal number ended by ':'; returns it and the bytes after the ':'.
fn parse_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b':' if i > 0 => return Some((n, &bytes[i + 1..])),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chitchat_protocol::{Message, RoomFrame, encode_frame};

    #[test]
    fn texts_have_the_exact_size_and_read_back() {
        let mut text = String::new();
        let stamp = Stamp {
            phase: Phase::Measured,
            k: 1234,
            t_us: 987_654_321,
        };
        write_text(&mut text, stamp, 100).unwrap();
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("m1234:987654321:xxx"), "{text}");
        assert_eq!(parse_stamp(&text), Some(stamp));

        let warm = Stamp {
            phase: Phase::Warmup,
            k: 0,
            t_us: 5,
        };
        write_text(&mut text, warm, 6).unwrap();
        assert_eq!(text, "w0:5:x");
        assert_eq!(parse_stamp(&text), Some(warm));
        assert_eq!(
            write_text(&mut text, stamp, 10),
            Err(TextTooShort {
                needed: 16,
                bytes: 10
            })
        );
    }

    #[test]
    fn foreign_texts_are_not_stamps() {
        for text in [
            "", "hello", "m:1:", "m12", "m12:", "m12:x:", "q1:2:", "m1:2",
        ] {
            assert_eq!(parse_stamp(text), None, "{text:?}");
        }
    }

    fn real_frames() -> Vec<(RoomFrame, Vec<u8>)> {
        let frames = vec![
            RoomFrame::Open {
                room: "bench-0".into(),
                epoch: 1_700_000_000_000,
            },
            RoomFrame::Message(Message {
                room: "bench-0".into(),
                seq: 300,
                epoch: 1_700_000_000_000,
                from: "p1".into(),
                ts: 1_700_000_000_123,
                text: "m7:99:xxxx".into(),
            }),
            RoomFrame::Presence {
                nick: "s17".into(),
                joined: false,
            },
        ];
        frames
            .into_iter()
            .map(|f| {
                let bytes = encode_frame(&f).unwrap();
                (f, bytes)
            })
            .collect()
    }

    fn same(real: &RoomFrame, view: &RoomFrameRef<'_>) -> bool {
        match (real, view) {
            (RoomFrame::Open { room, epoch }, RoomFrameRef::Open { room: r, epoch: e }) => {
                room == r && epoch == e
            }
            (RoomFrame::Message(m), RoomFrameRef::Message(v)) => {
                m.room == v.room
                    && m.seq == v.seq
                    && m.epoch == v.epoch
                    && m.from == v.from
                    && m.ts == v.ts
                    && m.text == v.text
            }
            (
                RoomFrame::Presence { nick, joined },
                RoomFrameRef::Presence { nick: n, joined: j },
            ) => nick == n && joined == j,
            _ => false,
        }
    }

    #[test]
    fn borrowed_frames_match_the_protocol() {
        for (frame, bytes) in real_frames() {
            let view = decode_room_frame(&bytes[LEN_PREFIX..]).unwrap();
            assert!(same(&frame, &view), "{frame:?} vs {view:?}");
        }
    }

    #[test]
    fn splitter_handles_any_cut() {
        let frames = real_frames();
        let stream: Vec<u8> = frames.iter().flat_map(|(_, b)| b.clone()).collect();
        for cut_a in 0..stream.len() {
            for cut_b in cut_a..stream.len() {
                let mut splitter = Splitter::default();
                let mut seen = Vec::new();
                for part in [&stream[..cut_a], &stream[cut_a..cut_b], &stream[cut_b..]] {
                    splitter
                        .feed(part, |body| {
                            seen.push(body.to_vec());
                            Ok(())
                        })
                        .unwrap();
                }
                assert_eq!(seen.len(), frames.len(), "cuts {cut_a} {cut_b}");
                for ((frame, _), body) in frames.iter().zip(&seen) {
                    assert!(same(frame, &decode_room_frame(body).unwrap()));
                }
            }
        }
    }

    #[test]
    fn splitter_refuses_oversized_frames() {
        let mut splitter = Splitter::default();
        let huge = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let e = splitter.feed(&huge, |_| Ok(())).unwrap_err();
        assert_eq!(e, FrameError::TooLarge(MAX_FRAME_LEN + 1));
    }
}
