//! Fuzzes the decoder of a ServerFrame body (the bytes after a stream frame's length prefix) with its round trip; see `chitchat_fuzz::check_body`.
#![no_main]

use chitchat_protocol::ServerFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chitchat_fuzz::check_body::<ServerFrame>(data));
