//! Fuzzes the length-prefixed stream framing (`FrameBuffer` fed arbitrary chunks); see
//! `chitchat_fuzz::check_stream`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chitchat_fuzz::check_stream(data));
