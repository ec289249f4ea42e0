//! The kernel's floor under a delivery, measured on the machine at the time of the run.
//!
//! A relay sends every fanned-out delivery as its own UDP datagram (one `sendmsg` per member
//! and packet), and on loopback the sender's `sendmsg` also runs the receiver's network
//! stack. No relay can spend less CPU per delivery than that call; measured beside each run,
//! it puts the run's CPU per delivery in proportion.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Payload of each datagram: a fan-out message's packet is about this size.
pub const DATAGRAM_BYTES: usize = 100;
/// Receivers the datagrams go to in turn, as a fan-out writes to its members.
const RECEIVERS: usize = 256;
/// Rounds of one datagram to every receiver; each round's queues are drained untimed.
const ROUNDS: usize = 101;

/// CPU µs this thread spends per `sendmsg` of a 100-byte datagram to one of 256 loopback
/// sockets (sender's side, including the loopback receive it triggers): the median over 101
/// rounds of 256 sends, so that a round the host interrupted (a virtual CPU's stolen time
/// counts as the guest thread's) does not move it. `None` where thread CPU time cannot be
/// read. Blocks for about a tenth of a second: call it off the async runtime's workers.
pub fn udp_send_us() -> io::Result<Option<f64>> {
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
    let mut per_send_ns = Vec::with_capacity(ROUNDS);
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
        per_send_ns.push(end.saturating_sub(start) as f64 / addrs.len() as f64);
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
    per_send_ns.sort_by(f64::total_cmp);
    Ok(Some(per_send_ns[ROUNDS / 2] / 1000.0))
}

/// CPU time of the calling thread so far, in ns (`CLOCK_THREAD_CPUTIME_ID`, which brings the
/// scheduler's count up to date when read; `/proc`'s per-thread figures lag by up to a tick).
fn thread_cpu_ns() -> Option<u64> {
    use nix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    u64::try_from(t.tv_sec())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(t.tv_nsec()).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_plausible_cpu_cost_per_send() {
        let us = udp_send_us()
            .expect("loopback sockets")
            .expect("the thread's CPU clock");
        // A syscall and a loopback delivery take at least a few hundred ns anywhere, and a
        // datagram on loopback never takes a millisecond of CPU.
        assert!(us > 0.1 && us < 1000.0, "{us} µs per send");
    }
}
