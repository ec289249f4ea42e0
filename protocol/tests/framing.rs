//! Framing edge cases: frames split at every byte, limits, leftovers.

use chitchat_protocol::*;

fn frames() -> Vec<ClientFrame> {
    vec![
        ClientFrame::Hello(Hello {
            version: PROTOCOL_VERSION,
            nick: "ada".into(),
            token: None,
        }),
        ClientFrame::Send {
            id: 1,
            room: "lobby".into(),
            text: "x".repeat(3000),
        },
        ClientFrame::Ping { id: 2 },
    ]
}

#[test]
fn frames_split_at_every_byte_decode_whole() {
    let mut bytes = Vec::new();
    for f in frames() {
        encode_frame_into(&f, &mut bytes).unwrap();
    }
    for chunk in [1, 2, 3, 5, 7, 64, 1000, bytes.len()] {
        let mut buf = FrameBuffer::new();
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            buf.extend(piece);
            while let Some(f) = buf.next_frame::<ClientFrame>().unwrap() {
                got.push(f);
            }
        }
        buf.finish().unwrap();
        assert_eq!(got, frames(), "chunk size {chunk}");
    }
}

#[test]
fn over_limit_length_is_refused_before_the_body_arrives() {
    let mut buf = FrameBuffer::new();
    buf.extend(&(u32::MAX).to_be_bytes());
    assert_eq!(
        buf.next_frame::<ClientFrame>(),
        Err(FrameError::TooLarge(u32::MAX as usize))
    );
}

#[test]
fn limit_itself_is_accepted_and_one_more_is_not() {
    // Send { id: 1, room: "r", text } costs: tag 1, id 1, room 2, text length varint 5.
    let overhead = 1 + 1 + 2 + 5;
    let at_limit = ClientFrame::Send {
        id: 1,
        room: "r".into(),
        text: "a".repeat(MAX_FRAME_LEN - overhead),
    };
    let bytes = encode_frame(&at_limit).unwrap();
    assert_eq!(bytes.len(), LEN_PREFIX + MAX_FRAME_LEN);
    let mut buf = FrameBuffer::new();
    buf.extend(&bytes);
    let decoded = buf.next_frame::<ClientFrame>();
    assert!(
        decoded == Ok(Some(at_limit)),
        "the frame at the limit did not decode"
    );
    let over = ClientFrame::Send {
        id: 1,
        room: "r".into(),
        text: "a".repeat(MAX_FRAME_LEN - overhead + 1),
    };
    assert!(encode_frame(&over) == Err(FrameError::TooLarge(MAX_FRAME_LEN + 1)));
}

#[test]
fn end_of_stream_inside_a_frame_is_truncated() {
    let bytes = encode_frame(&ClientFrame::Ping { id: 9 }).unwrap();
    let mut buf = FrameBuffer::new();
    buf.extend(&bytes[..bytes.len() - 1]);
    assert_eq!(buf.next_frame::<ClientFrame>(), Ok(None));
    assert_eq!(buf.finish(), Err(FrameError::Truncated));
}

#[test]
fn oversized_datagram_is_refused() {
    let d = ClientDatagram::Typing {
        room: "r".repeat(MAX_DATAGRAM_LEN),
    };
    assert!(matches!(encode_datagram(&d), Err(FrameError::TooLarge(_))));
    assert!(matches!(
        decode_datagram::<ClientDatagram>(&vec![0; MAX_DATAGRAM_LEN + 1]),
        Err(FrameError::TooLarge(_))
    ));
}

#[test]
fn unknown_error_codes_decode_and_have_no_name() {
    let f = ServerFrame::Error(ErrorFrame {
        id: 0,
        code: ErrorCode(999),
        message: String::new(),
    });
    let bytes = encode_frame(&f).unwrap();
    let mut buf = FrameBuffer::new();
    buf.extend(&bytes);
    assert_eq!(buf.next_frame::<ServerFrame>().unwrap(), Some(f));
    assert_eq!(ErrorCode(999).name(), "UNKNOWN");
}

#[test]
fn an_idle_buffer_holds_little_memory_even_after_a_large_frame() {
    let mut buf = FrameBuffer::new();
    assert_eq!(
        buf.capacity(),
        0,
        "nothing allocated before the first bytes"
    );
    let small = encode_frame(&ClientFrame::Ping { id: 1 }).unwrap();
    buf.extend(&small);
    assert_eq!(
        buf.next_frame::<ClientFrame>().unwrap(),
        Some(ClientFrame::Ping { id: 1 })
    );
    assert!(buf.capacity() < 64, "a small frame takes a small buffer");

    let large = ClientFrame::Send {
        id: 2,
        room: "r".into(),
        text: "a".repeat(100_000),
    };
    buf.extend(&encode_frame(&large).unwrap());
    assert_eq!(buf.next_frame::<ClientFrame>().unwrap(), Some(large));
    assert!(
        buf.capacity() <= 4096,
        "capacity {} kept after a large frame",
        buf.capacity()
    );
    buf.extend(&small);
    assert!(
        buf.capacity() <= 4096,
        "capacity {} kept after a large frame",
        buf.capacity()
    );
    assert_eq!(
        buf.next_frame::<ClientFrame>().unwrap(),
        Some(ClientFrame::Ping { id: 1 })
    );
    buf.finish().unwrap();
}
