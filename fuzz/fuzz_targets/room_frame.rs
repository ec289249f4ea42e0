//! Fuzzes the decoder of a RoomFrame body (the bytes after a stream frame's length prefix) with its round trip; see `chitchat_fuzz::check_body`.
#![no_main]

use chitchat_protocol::RoomFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chitchat_fuzz::check_body::<RoomFrame>(data));
