//! Fuzzes the decoder of a ClientDatagram with its round trip; see `chitchat_fuzz::check_datagram`.
#![no_main]

use chitchat_protocol::ClientDatagram;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chitchat_fuzz::check_datagram::<ClientDatagram>(data));
