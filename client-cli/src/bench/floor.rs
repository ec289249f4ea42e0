//! The kernel's floor under a delivery, measured on the machine at the time of the run.
//!
//! A relay sends every fanned-out delivery as its own UDP datagram (one `sendmsg` per member
//! and packet), and on loopback the sender's `sendmsg` also runs the receiver's network
//! stack. No relay can spend less CPU per delivery than that call; measured beside each run,
//! it says where the floor is and how fast the machine was that minute (a virtual machine's
//! speed drifts with its host's load, so figures from different hours compare only through
//! it).

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Payload of each datagram: a fan-out message's packet is about this size.
pub const DATAGRAM_BYTES: usize = 100;
/// Receivers the datagrams go to in turn, as a fan-out writes to its members.
const RECEIVERS: usize = 256;
/// Rounds of one datagram to every receiver; each round's queues are drained untimed.
const ROUNDS: usize = 40;

/// CPU µs this thread spends per `sendmsg` of a 100-byte datagram to one of 256 loopback
/// sockets (sender's side, including the loopback receive it triggers), over about 10 000
/// sends. `None` where thread CPU time cannot be read (not Linux).
pub fn udp_send_us() -> io::Result<Option<f64>> {
    std::thread::scope(|s| s.spawn(measure).join())
        .unwrap_or_else(|_| Err(io::Error::other("the floor measurement thread panicked")))
}

fn measure() -> io::Result<Option<f64>> {
    let receivers = (0..RECEIVERS)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let addrs = receivers
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<io::Result<Vec<SocketAddr>>>()?;
    let sender = UdpSocket::bind("127.0.0.1:0")?;
    let payload = [0x5a_u8; DATAGRAM_BYTES];
    let mut scratch = [0_u8; 2048];
    let mut sending_ns = 0_u64;
    let mut sent = 0_u64;
    for _ in 0..ROUNDS {
        let Some(start) = thread_cpu_ns() else {
            return Ok(None);
        };
        for addr in &addrs {
            sender.send_to(&payload, addr)?;
        }
        let Some(end) = thread_cpu_ns() else {
            return Ok(None);
        };
        sending_ns += end.saturating_sub(start);
        sent += addrs.len() as u64;
        for socket in &receivers {
            loop {
                match socket.recv(&mut scratch) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(Some(sending_ns as f64 / 1000.0 / sent as f64))
}

/// CPU time of the calling thread so far, in ns (`/proc/thread-self/schedstat`, the
/// scheduler's own accounting, to the nanosecond).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_cost_per_send_where_linux_reports_thread_cpu() {
        let measured = udp_send_us().expect("loopback sockets");
        if !cfg!(target_os = "linux") && measured.is_none() {
            return;
        }
        let us = measured.expect("Linux reports thread CPU time");
        // A syscall and a loopback delivery take at least a few hundred ns anywhere, and a
        // datagram on loopback never takes a millisecond of CPU.
        assert!(us > 0.1 && us < 1000.0, "{us} µs per send");
    }
}
