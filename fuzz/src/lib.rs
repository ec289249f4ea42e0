//! The checks behind the fuzz targets in `fuzz_targets/`, one function per decoder.
//!
//! Every check feeds arbitrary bytes to a decoder of network input and asserts that it returns
//! rather than panicking, hanging or allocating without bound (libFuzzer reports those), and
//! that whatever decodes survives a round trip: its encoding decodes to the same value, and is
//! never longer than the bytes it came from (the encoder writes the shortest form, so a value
//! that fits a frame re-encodes into one).

use std::fmt::Debug;

use chitchat_protocol::bus::BusFrame;
use chitchat_protocol::{
    Frame, FrameBuffer, FrameError, LEN_PREFIX, MAX_FRAME_LEN, decode_body, decode_datagram,
    encode_datagram, encode_frame,
};

/// What an idle [`FrameBuffer`] may keep allocated after it handed out its last frame (its
/// private `KEEP_CAPACITY`): a drained stream must not hold the memory of a large frame.
const IDLE_CAPACITY: usize = 4096;

/// Decodes `body` as one frame body of type `T` (a control or room stream frame).
pub fn check_body<T: Frame + PartialEq + Debug>(body: &[u8]) {
    if let Ok(frame) = decode_body::<T>(body) {
        round_trip_frame(&frame, body.len());
    }
}

/// Decodes `body` as a datagram of type `T`.
pub fn check_datagram<T: Frame + PartialEq + Debug>(body: &[u8]) {
    let Ok(datagram) = decode_datagram::<T>(body) else {
        return;
    };
    let bytes = encode_datagram(&datagram).expect("a decoded datagram re-encodes");
    assert!(bytes.len() <= body.len(), "re-encoding grew the datagram");
    let again = decode_datagram::<T>(&bytes).expect("a re-encoded datagram decodes");
    assert_eq!(again, datagram);
}

/// Decodes `bytes` as a Redis bus frame, as a relay does with what arrives on a room channel.
pub fn check_bus_frame(bytes: &[u8]) {
    let Ok(frame) = BusFrame::decode(bytes) else {
        return;
    };
    let encoded = frame.encode();
    assert!(
        encoded.len() <= bytes.len(),
        "re-encoding grew the bus frame"
    );
    let again = BusFrame::decode(&encoded).expect("a re-encoded bus frame decodes");
    assert_eq!(again, frame);
}

/// Feeds a stream to [`FrameBuffer`] in chunks. `data[0]` picks the frame type (client,
/// server or room stream), `data[1]` the chunk sizes, the rest is the stream.
///
/// The frames (and the first error) must not depend on how the stream was cut, must equal a
/// plain reading of the length prefixes, and each frame must round-trip.
pub fn check_stream(data: &[u8]) {
    let [kind, seed, stream @ ..] = data else {
        return;
    };
    match kind % 3 {
        0 => check_stream_of::<chitchat_protocol::ClientFrame>(*seed, stream),
        1 => check_stream_of::<chitchat_protocol::ServerFrame>(*seed, stream),
        _ => check_stream_of::<chitchat_protocol::RoomFrame>(*seed, stream),
    }
}

fn check_stream_of<T: Frame + PartialEq + Debug>(seed: u8, stream: &[u8]) {
    let expected = read_plainly::<T>(stream);
    let whole = read_buffered::<T>(stream, std::iter::repeat(stream.len().max(1)));
    assert_eq!(whole, expected, "stream in one piece");
    let chunked = read_buffered::<T>(stream, chunk_sizes(seed));
    assert_eq!(chunked, expected, "stream in chunks (seed {seed})");
    for frame in expected.iter().filter_map(|r| r.as_ref().ok()) {
        round_trip_frame(frame, MAX_FRAME_LEN);
    }
}

/// Re-encodes a decoded frame: it must fit in `body_len` bytes and decode to itself.
fn round_trip_frame<T: Frame + PartialEq + Debug>(frame: &T, body_len: usize) {
    let bytes = encode_frame(frame).expect("a decoded frame re-encodes");
    let body = &bytes[LEN_PREFIX..];
    assert!(body.len() <= body_len, "re-encoding grew the frame");
    let prefix: [u8; LEN_PREFIX] = bytes[..LEN_PREFIX].try_into().expect("prefix");
    assert_eq!(u32::from_be_bytes(prefix) as usize, body.len());
    let again = decode_body::<T>(body).expect("a re-encoded frame decodes");
    assert_eq!(&again, frame);
}

/// Endless chunk sizes from 1 to `seed + 1` bytes (seed 0: byte by byte), from a xorshift.
fn chunk_sizes(seed: u8) -> impl Iterator<Item = usize> {
    let max = u32::from(seed) + 1;
    let mut state = 0x9e37_79b9u32 ^ u32::from(seed);
    std::iter::from_fn(move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        Some((1 + state % max) as usize)
    })
}

/// The frames of `stream` through a [`FrameBuffer`] fed in chunks, up to and including the
/// first error (where a relay closes the connection); at the end, `finish`'s error if any.
fn read_buffered<T: Frame>(
    stream: &[u8],
    sizes: impl Iterator<Item = usize>,
) -> Vec<Result<T, FrameError>> {
    let mut buf = FrameBuffer::new();
    let mut out = Vec::new();
    let mut rest = stream;
    for size in sizes {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        buf.extend(chunk);
        loop {
            match buf.next_frame::<T>() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    if let Err(e) = buf.finish() {
        out.push(Err(e));
    } else {
        assert!(
            buf.capacity() <= IDLE_CAPACITY,
            "a drained buffer kept {} bytes",
            buf.capacity()
        );
    }
    out
}

/// The same as [`read_buffered`], reading the length prefixes straight from the slice.
fn read_plainly<T: Frame>(stream: &[u8]) -> Vec<Result<T, FrameError>> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= LEN_PREFIX {
        let (prefix, tail) = rest.split_at(LEN_PREFIX);
        let len = u32::from_be_bytes(prefix.try_into().expect("prefix")) as usize;
        let error = if len > MAX_FRAME_LEN {
            Some(FrameError::TooLarge(len))
        } else if len == 0 {
            Some(FrameError::Empty)
        } else {
            None
        };
        if let Some(e) = error {
            out.push(Err(e));
            return out;
        }
        if tail.len() < len {
            break;
        }
        let (body, tail) = tail.split_at(len);
        rest = tail;
        // Room frames of a later version are passed over (`Frame::skippable`).
        if T::skippable(body) {
            continue;
        }
        let frame = decode_body::<T>(body);
        let failed = frame.is_err();
        out.push(frame);
        if failed {
            return out;
        }
    }
    if !rest.is_empty() {
        out.push(Err(FrameError::Truncated));
    }
    out
}
