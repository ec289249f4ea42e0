//! Framing: turning frames into bytes and back, with the size limit checked before any
//! allocation. Pure functions and a buffer type; the caller does the I/O.
//!
//! A stream frame is a 4-byte big-endian body length followed by the body, the bincode
//! encoding of one value under [`CONFIG`]. A datagram is one body with no length prefix.

use bincode::config::{Configuration, LittleEndian, Varint};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::ErrorCode;

/// The most bytes one frame body may hold, in either direction. Large enough for a History
/// page and for a text far over the text limit (so an overlong text gets a polite
/// `TEXT_TOO_LONG`, not a framing error), small enough that a hostile length costs little.
pub const MAX_FRAME_LEN: usize = 256 * 1024;

/// The most bytes one datagram body may hold; below any path's QUIC datagram size.
pub const MAX_DATAGRAM_LEN: usize = 1000;

/// Bytes of the length prefix in front of every stream frame.
pub const LEN_PREFIX: usize = 4;

/// The most bytes bincode may claim (allocate) while decoding one frame. A claim is counted
/// before the bytes are read, so a hostile length inside a frame (a string or list "of 4 GB")
/// is refused without allocating. Claims count in-memory sizes, which run far above the
/// encoded size: the extreme legal frame, a list of empty strings, claims 24 bytes (one
/// `String`) per encoded byte. 32 times the frame limit covers every legal frame.
pub const DECODE_LIMIT: usize = 32 * MAX_FRAME_LEN;

/// The one bincode configuration of the wire format: little-endian, variable-length
/// integers, and the decode limit.
pub const CONFIG: Configuration<LittleEndian, Varint, bincode::config::Limit<DECODE_LIMIT>> =
    bincode::config::standard().with_limit::<DECODE_LIMIT>();

/// Why bytes could not become a frame. Every variant maps to the [`ErrorCode`] the relay
/// closes the connection with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`] (or the datagram is larger
    /// than [`MAX_DATAGRAM_LEN`]).
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME_LEN}")]
    TooLarge(usize),
    /// A frame with an empty body.
    #[error("empty frame")]
    Empty,
    /// The frame type (the body's first varint) is not one this protocol version knows.
    #[error("unknown frame type {0}")]
    UnknownType(u64),
    /// A string in the frame is not valid UTF-8.
    #[error("invalid UTF-8 in a string")]
    InvalidUtf8,
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The body does not decode as the expected frame, or has bytes left over.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// The code a relay closes the connection with for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge(_) => ErrorCode::FRAME_TOO_LARGE,
            FrameError::UnknownType(_) => ErrorCode::UNKNOWN_FRAME,
            FrameError::InvalidUtf8 => ErrorCode::INVALID_UTF8,
            FrameError::Empty | FrameError::Truncated | FrameError::Malformed(_) => {
                ErrorCode::BAD_FRAME
            }
        }
    }
}

/// A type that can be a frame: knows how many variants (frame types) it has, so an unknown
/// type is reported as such rather than as a malformed frame.
pub trait Frame: Serialize + DeserializeOwned {
    /// Number of variants; a body whose first varint is at or above it is
    /// [`FrameError::UnknownType`].
    const TYPES: u64;

    /// Whether [`FrameBuffer::next_frame`] passes over `body` as a frame from a later
    /// protocol version instead of failing: only room streams are forward compatible.
    fn skippable(_body: &[u8]) -> bool {
        false
    }
}

macro_rules! frame_types {
    ($($t:ty = $n:expr),* $(,)?) => {$(
        impl Frame for $t { const TYPES: u64 = $n; }
    )*};
}
frame_types!(
    crate::ClientFrame = 18,
    crate::ServerFrame = 16,
    crate::ClientDatagram = 1,
    crate::ServerDatagram = 1,
);

impl Frame for crate::RoomFrame {
    const TYPES: u64 = 6;

    /// A room frame type, or an entry kind, that this version does not know: the length
    /// prefix says where the next frame starts, so a reader skips it and keeps its session.
    fn skippable(body: &[u8]) -> bool {
        unknown_room_frame(body)
    }
}

/// Encodes `frame` as a stream frame: length prefix and body.
///
/// Fails only if the body would exceed [`MAX_FRAME_LEN`].
pub fn encode_frame<T: Frame>(frame: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(64);
    encode_frame_into(frame, &mut out)?;
    Ok(out)
}

/// Appends `frame` as a stream frame to `out`; on error `out` is left as it was.
pub fn encode_frame_into<T: Frame>(frame: &T, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_PREFIX]);
    let encoded = bincode::serde::encode_into_std_write(frame, out, CONFIG);
    let len = out.len() - start - LEN_PREFIX;
    match encoded {
        Ok(_) if len <= MAX_FRAME_LEN => {
            // The cast cannot truncate: len <= MAX_FRAME_LEN < u32::MAX.
            out[start..start + LEN_PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
            Ok(())
        }
        Ok(_) => {
            out.truncate(start);
            Err(FrameError::TooLarge(len))
        }
        Err(e) => {
            out.truncate(start);
            Err(FrameError::Malformed(e.to_string()))
        }
    }
}

/// Encodes a datagram body (no length prefix).
pub fn encode_datagram<T: Frame>(datagram: &T) -> Result<Vec<u8>, FrameError> {
    let body = bincode::serde::encode_to_vec(datagram, CONFIG)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if body.len() > MAX_DATAGRAM_LEN {
        return Err(FrameError::TooLarge(body.len()));
    }
    Ok(body)
}

/// Decodes a datagram body.
pub fn decode_datagram<T: Frame>(body: &[u8]) -> Result<T, FrameError> {
    if body.len() > MAX_DATAGRAM_LEN {
        return Err(FrameError::TooLarge(body.len()));
    }
    decode_body(body)
}

/// Decodes one frame body (the bytes after the length prefix). The whole body must be one
/// value: leftover bytes are an error.
pub fn decode_body<T: Frame>(body: &[u8]) -> Result<T, FrameError> {
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    if let Some(tag) = read_varint(body)
        && tag >= T::TYPES
    {
        return Err(FrameError::UnknownType(tag));
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, CONFIG).map_err(|e| {
        use bincode::error::DecodeError;
        match e {
            DecodeError::Utf8 { .. } => FrameError::InvalidUtf8,
            DecodeError::UnexpectedEnd { .. } => {
                FrameError::Malformed("body ends inside a value".into())
            }
            DecodeError::LimitExceeded => {
                FrameError::Malformed("a length inside the frame runs past its end".into())
            }
            other => FrameError::Malformed(other.to_string()),
        }
    })?;
    if used != body.len() {
        return Err(FrameError::Malformed(format!(
            "{} bytes left over after the frame",
            body.len() - used
        )));
    }
    Ok(value)
}

/// Reads a bincode varint (u64) at the start of `bytes`; `None` if it is cut short or not
/// a valid varint.
fn read_varint(bytes: &[u8]) -> Option<u64> {
    let (&first, rest) = bytes.split_first()?;
    let width = match first {
        0..=250 => return Some(u64::from(first)),
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return None,
    };
    let raw = rest.get(..width)?;
    let mut le = [0u8; 8];
    le[..width].copy_from_slice(raw);
    Some(u64::from_le_bytes(le))
}

/// Accumulates bytes read from a stream and yields whole frames.
///
/// The length prefix is checked against the limit as soon as its 4 bytes are here, so a
/// hostile length is refused before anything is buffered for it.
#[derive(Debug)]
pub struct FrameBuffer {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte in `buf`.
    start: usize,
}

impl Default for FrameBuffer {
    fn default() -> Self {
        Self::new()
    }
}

/// A drained buffer keeps its allocation for the next frames up to this size; a larger one
/// (grown for a large frame) is released, so that an idle stream holds next to nothing.
const KEEP_CAPACITY: usize = 4096;

impl FrameBuffer {
    /// An empty buffer; it allocates on the first bytes, as much as they need.
    pub fn new() -> Self {
        FrameBuffer {
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Bytes allocated for buffering (what an idle stream costs).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > self.buf.capacity() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// How many bytes the next read may usefully bring: the rest of the current frame, or at
    /// least a length prefix. Callers may read more; this is a hint.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed. Frames that
    /// [`Frame::skippable`] names are consumed and passed over.
    pub fn next_frame<T: Frame>(&mut self) -> Result<Option<T>, FrameError> {
        loop {
            let Some(len) = self.peek_len()? else {
                return Ok(None);
            };
            let body_start = self.start + LEN_PREFIX;
            if self.buf.len() < body_start + len {
                return Ok(None);
            }
            let body = &self.buf[body_start..body_start + len];
            let frame = if T::skippable(body) {
                None
            } else {
                Some(decode_body(body))
            };
            self.start = body_start + len;
            if self.start == self.buf.len() {
                // Drained: keep a small allocation for the next frames, let a large one go.
                if self.buf.capacity() > KEEP_CAPACITY {
                    self.buf = Vec::new();
                } else {
                    self.buf.clear();
                }
                self.start = 0;
            }
            // A passed-over frame: on to the next one, if it is here.
            if let Some(frame) = frame {
                return frame.map(Some);
            }
        }
    }

    /// The announced body length of the next frame, once its prefix is complete.
    fn peek_len(&self) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = self.buf.get(self.start..self.start + LEN_PREFIX) else {
            return Ok(None);
        };
        let mut len = [0u8; LEN_PREFIX];
        len.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        Ok(Some(len))
    }

    /// Call at end of stream: an error if a frame was cut short.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.pending() == 0 {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

/// The room frame type that carries an [`crate::Entry`].
const ENTRY_FRAME: u64 = 3;

/// How many kinds of [`crate::EntryBody`] this version knows.
const ENTRY_KINDS: u64 = 4;

/// The fields of an [`crate::Entry`] before its body, to read the body's kind alone.
#[derive(Deserialize)]
#[allow(dead_code)]
struct EntryHead {
    room: String,
    seq: u64,
    epoch: u64,
    from: String,
    ts: u64,
}

/// Whether a room frame body is of a type, or an entry of a kind, that this version does not
/// know (see [`Frame::skippable`]). A body too short to tell is not: decoding it then
/// reports what is wrong.
fn unknown_room_frame(body: &[u8]) -> bool {
    let Some(tag) = read_varint(body) else {
        return false;
    };
    if tag >= <crate::RoomFrame as Frame>::TYPES {
        return true;
    }
    if tag != ENTRY_FRAME {
        return false;
    }
    // The tag 3 is one byte; the entry's head follows.
    let rest = &body[1..];
    let Ok((_, used)) = bincode::serde::decode_from_slice::<EntryHead, _>(rest, CONFIG) else {
        return false;
    };
    rest.get(used..)
        .and_then(read_varint)
        .is_some_and(|kind| kind >= ENTRY_KINDS)
}
