//! Property tests: every frame and datagram, with arbitrary field values, survives encoding
//! and decoding unchanged, through a [`FrameBuffer`] fed arbitrary chunks too; a frame cut
//! short never decodes as some other frame. The fuzz targets in fuzz/ check the other
//! direction (arbitrary bytes into the decoders).

use chitchat_protocol::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// Any string: proptest's default strategy draws from all of Unicode, up to 100 characters.
fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

/// Lists are short so that the frames stay well under the frame limit.
fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..6)
}

fn hello() -> impl Strategy<Value = Hello> {
    (any::<u16>(), text(), proptest::option::of(text())).prop_map(|(version, nick, token)| Hello {
        version,
        nick,
        token,
    })
}

fn resume_point() -> impl Strategy<Value = ResumePoint> {
    (any::<u64>(), any::<u64>()).prop_map(|(epoch, seq)| ResumePoint { epoch, seq })
}

fn message() -> impl Strategy<Value = Message> {
    (
        text(),
        any::<u64>(),
        any::<u64>(),
        text(),
        any::<u64>(),
        text(),
    )
        .prop_map(|(room, seq, epoch, from, ts, text)| Message {
            room,
            seq,
            epoch,
            from,
            ts,
            text,
        })
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        hello().prop_map(ClientFrame::Hello),
        (any::<u32>(), text(), proptest::option::of(resume_point()))
            .prop_map(|(id, room, resume)| ClientFrame::Join { id, room, resume }),
        (any::<u32>(), text()).prop_map(|(id, room)| ClientFrame::Leave { id, room }),
        (any::<u32>(), text(), text()).prop_map(|(id, room, text)| ClientFrame::Send {
            id,
            room,
            text
        }),
        (any::<u32>(), text(), text(), any::<u64>()).prop_map(|(id, room, text, send_id)| {
            ClientFrame::SendOnce {
                id,
                room,
                text,
                send_id,
            }
        }),
        (
            any::<u32>(),
            text(),
            proptest::option::of(any::<u64>()),
            any::<u16>()
        )
            .prop_map(|(id, room, before, limit)| ClientFrame::History {
                id,
                room,
                before,
                limit
            }),
        (any::<u32>(), text()).prop_map(|(id, room)| ClientFrame::Who { id, room }),
        any::<u32>().prop_map(|id| ClientFrame::Ping { id }),
        (any::<u32>(), text()).prop_map(|(id, token)| ClientFrame::Refresh { id, token }),
        (any::<u32>(), text()).prop_map(|(id, nick)| ClientFrame::Rename { id, nick }),
        (any::<u32>(), text(), any::<u64>()).prop_map(|(id, room, seq)| ClientFrame::MarkRead {
            id,
            room,
            seq
        }),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    (any::<[u32; 4]>(), any::<u16>()).prop_map(
        |([max_text_bytes, max_rooms, msgs_per_sec, msgs_burst], history_page)| Limits {
            max_text_bytes,
            max_rooms,
            msgs_per_sec,
            msgs_burst,
            history_page,
        },
    )
}

fn resume_outcome() -> impl Strategy<Value = ResumeOutcome> {
    prop_oneof![
        Just(ResumeOutcome::Live),
        Just(ResumeOutcome::Resumed),
        Just(ResumeOutcome::EpochChanged),
        any::<u64>().prop_map(|first_seq| ResumeOutcome::Truncated { first_seq }),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (any::<u16>(), text(), any::<u64>(), text(), limits()).prop_map(
            |(version, node_id, session_id, nick, limits)| ServerFrame::Welcome(Welcome {
                version,
                node_id,
                session_id,
                nick,
                limits,
            })
        ),
        (
            any::<u32>(),
            text(),
            any::<u64>(),
            any::<u64>(),
            strings(),
            resume_outcome()
        )
            .prop_map(|(id, room, epoch, last_seq, members, resume)| {
                ServerFrame::Joined(Joined {
                    id,
                    room,
                    epoch,
                    last_seq,
                    members,
                    resume,
                })
            }),
        (any::<u32>(), text()).prop_map(|(id, room)| ServerFrame::Left { id, room }),
        (any::<u32>(), text(), any::<[u64; 3]>()).prop_map(|(id, room, numbers)| {
            ServerFrame::Sent {
                id,
                room,
                epoch: numbers[0],
                seq: numbers[1],
                ts: numbers[2],
            }
        }),
        (
            any::<u32>(),
            text(),
            any::<u64>(),
            vec(message(), 0..4),
            any::<bool>()
        )
            .prop_map(|(id, room, epoch, messages, more)| {
                ServerFrame::History(HistoryPage {
                    id,
                    room,
                    epoch,
                    messages,
                    more,
                })
            }),
        (any::<u32>(), text(), strings()).prop_map(|(id, room, members)| ServerFrame::Members {
            id,
            room,
            members
        }),
        (any::<u32>(), any::<u64>()).prop_map(|(id, ts)| ServerFrame::Pong { id, ts }),
        (any::<u32>(), any::<u16>(), text()).prop_map(|(id, code, message)| {
            ServerFrame::Error(ErrorFrame {
                id,
                code: ErrorCode(code),
                message,
            })
        }),
        (any::<u32>(), text()).prop_map(|(reconnect_ms, message)| ServerFrame::GoAway {
            reconnect_ms,
            message
        }),
        (any::<u32>(), any::<u64>())
            .prop_map(|(id, expires_ms)| ServerFrame::Refreshed { id, expires_ms }),
        any::<u64>().prop_map(|expires_ms| ServerFrame::TokenExpiring { expires_ms }),
        (any::<u32>(), text()).prop_map(|(id, nick)| ServerFrame::Renamed { id, nick }),
        (any::<u32>(), text(), any::<u64>()).prop_map(|(id, room, seq)| ServerFrame::ReadMarker {
            id,
            room,
            seq
        }),
    ]
}

fn room_frame() -> impl Strategy<Value = RoomFrame> {
    prop_oneof![
        (text(), any::<u64>()).prop_map(|(room, epoch)| RoomFrame::Open { room, epoch }),
        message().prop_map(RoomFrame::Message),
        (text(), any::<bool>()).prop_map(|(nick, joined)| RoomFrame::Presence { nick, joined }),
        (text(), text()).prop_map(|(from, to)| RoomFrame::Renamed { from, to }),
        (text(), text()).prop_map(|(topic, by)| RoomFrame::Topic { topic, by }),
    ]
}

/// Datagram strings: 100 characters of at most 4 bytes each, twice, stay under the datagram
/// limit.
fn client_datagram() -> impl Strategy<Value = ClientDatagram> {
    text().prop_map(|room| ClientDatagram::Typing { room })
}

fn server_datagram() -> impl Strategy<Value = ServerDatagram> {
    (text(), text()).prop_map(|(room, nick)| ServerDatagram::Typing { room, nick })
}

/// The frame decodes from its own encoding, and no strict prefix of its body decodes.
fn check_frame<T: Frame + PartialEq + std::fmt::Debug>(frame: &T) -> Result<(), TestCaseError> {
    let bytes = encode_frame(frame).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let body = &bytes[LEN_PREFIX..];
    prop_assert_eq!(
        u32::from_be_bytes(bytes[..LEN_PREFIX].try_into().unwrap()) as usize,
        body.len()
    );
    let decoded = decode_body::<T>(body);
    prop_assert_eq!(decoded.as_ref(), Ok(frame));
    for cut in 0..body.len() {
        prop_assert!(
            decode_body::<T>(&body[..cut]).is_err(),
            "prefix of {} bytes decoded",
            cut
        );
    }
    Ok(())
}

/// The frames, encoded back to back and fed to a [`FrameBuffer`] in chunks of the given
/// sizes (cycled), come out whole and in order.
fn check_stream<T: Frame + PartialEq + std::fmt::Debug>(
    frames: &[T],
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let mut bytes = Vec::new();
    for frame in frames {
        encode_frame_into(frame, &mut bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    let mut buf = FrameBuffer::new();
    let mut got = Vec::new();
    let mut rest = &bytes[..];
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        buf.extend(chunk);
        while let Some(frame) = buf
            .next_frame::<T>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?
        {
            got.push(frame);
        }
    }
    prop_assert_eq!(buf.finish(), Ok(()));
    prop_assert_eq!(got.as_slice(), frames);
    Ok(())
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(1usize..300, 1..8)
}

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        check_frame(&frame)?;
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        check_frame(&frame)?;
    }

    #[test]
    fn room_frames_round_trip(frame in room_frame()) {
        check_frame(&frame)?;
    }

    #[test]
    fn client_streams_survive_any_chunking(frames in vec(client_frame(), 0..6), sizes in chunk_sizes()) {
        check_stream(&frames, &sizes)?;
    }

    #[test]
    fn server_streams_survive_any_chunking(frames in vec(server_frame(), 0..6), sizes in chunk_sizes()) {
        check_stream(&frames, &sizes)?;
    }

    #[test]
    fn room_streams_survive_any_chunking(frames in vec(room_frame(), 0..6), sizes in chunk_sizes()) {
        check_stream(&frames, &sizes)?;
    }

    #[test]
    fn client_datagrams_round_trip(datagram in client_datagram()) {
        let bytes = encode_datagram(&datagram).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decode_datagram::<ClientDatagram>(&bytes), Ok(datagram));
    }

    #[test]
    fn server_datagrams_round_trip(datagram in server_datagram()) {
        let bytes = encode_datagram(&datagram).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decode_datagram::<ServerDatagram>(&bytes), Ok(datagram));
    }
}
