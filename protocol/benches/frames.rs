//! Frame encode and decode, the per-message work of every relay and client: a room message
//! encoded once per delivery batch, a Send decoded per message, and a stream of room frames
//! split and decoded as a client reads them.
//!
//! Run with `cargo bench -p chitchat-protocol --bench frames`.

use chitchat_protocol::{
    ClientFrame, FrameBuffer, LEN_PREFIX, Message, RoomFrame, decode_body, encode_frame,
    encode_frame_into,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Frames per stream in the FrameBuffer benchmark: a busy room's read brings dozens.
const STREAM_FRAMES: usize = 64;

fn message(seq: u64) -> RoomFrame {
    RoomFrame::Message(Message {
        room: "bench-0".into(),
        seq,
        epoch: 1_700_000_000_000,
        from: "p1".into(),
        ts: 1_700_000_000_123,
        text: format!("m{seq}:1234567890:{}", "x".repeat(80)),
    })
}

fn send() -> ClientFrame {
    ClientFrame::Send {
        id: 42,
        room: "bench-0".into(),
        text: format!("m42:1234567890:{}", "x".repeat(84)),
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let msg = message(1);
    g.bench_function("room_message", |b| {
        b.iter(|| encode_frame(black_box(&msg)).expect("encode"))
    });
    let mut out = Vec::with_capacity(256);
    g.bench_function("room_message_into_reused_buffer", |b| {
        b.iter(|| {
            out.clear();
            encode_frame_into(black_box(&msg), &mut out).expect("encode");
            out.len()
        })
    });
    let s = send();
    g.bench_function("send", |b| {
        b.iter(|| encode_frame(black_box(&s)).expect("encode"))
    });
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let msg_bytes = encode_frame(&msg).expect("encode");
    g.bench_function("room_message", |b| {
        b.iter(|| decode_body::<RoomFrame>(black_box(&msg_bytes[LEN_PREFIX..])).expect("decode"))
    });
    let send_bytes = encode_frame(&s).expect("encode");
    g.bench_function("send", |b| {
        b.iter(|| decode_body::<ClientFrame>(black_box(&send_bytes[LEN_PREFIX..])).expect("decode"))
    });
    g.finish();

    let mut g = c.benchmark_group("frame_buffer");
    let stream: Vec<u8> = (0..STREAM_FRAMES as u64)
        .flat_map(|seq| encode_frame(&message(seq)).expect("encode"))
        .collect();
    g.throughput(Throughput::Elements(STREAM_FRAMES as u64));
    g.bench_function("split_and_decode_64_room_messages", |b| {
        b.iter_batched_ref(
            FrameBuffer::new,
            |buf| {
                buf.extend(black_box(&stream));
                let mut n = 0;
                while let Some(frame) = buf.next_frame::<RoomFrame>().expect("frame") {
                    black_box(frame);
                    n += 1;
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(frames, benches);
criterion_main!(frames);
