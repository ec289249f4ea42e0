//! Fuzzes the Redis bus-frame decoder (`BusFrame::decode`) with its round trip; see
//! `chitchat_fuzz::check_bus_frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chitchat_fuzz::check_bus_frame(data));
