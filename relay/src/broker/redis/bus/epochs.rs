//! The bus task's watch over each delivered room's epoch: a room whose keys were lost gets
//! a new epoch from the next script or read that finds none, and a room whose seq went
//! backwards is given one ([`super::super::seen`]). Either way the room is delivered again
//! from seq 1 in its new epoch, so the sink (and through it every member on this relay)
//! hears of the change from the room's entries, as clients that join again hear of it
//! from `Joined`.
//!
//! The checks: every health tick reads the epochs of all delivered rooms (one pipeline);
//! a frame of another epoch, or a recheck asked by the sender, reads one room's; after a
//! reconnection each room's head and the entry at its last delivered seq are compared with
//! what was delivered.

use ::redis::Value;

use super::{BusError, BusTask};
use crate::broker::redis::keys::{epoch_key, log_key};
use crate::broker::redis::link::{COMMAND_TIMEOUT, Connections};
use crate::broker::redis::seen::{bump_epoch, fingerprint};
use crate::broker::redis::stream::{ReadError, epoch_cmd, parse_entries, read_head};

impl BusTask {
    /// Reads every delivered room's epoch key (one pipeline on the command connection) and
    /// checks again each room whose key is missing or holds another epoch.
    pub(super) async fn check_epochs(&mut self, c: &mut Connections) -> Result<(), BusError> {
        let rooms = self.delivery.rooms();
        if rooms.is_empty() {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        for room in &rooms {
            pipe.cmd("GET").arg(epoch_key(room));
        }
        let mut conn = c.command.conn.clone();
        let epochs: Vec<Option<u64>> =
            match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async(&mut conn)).await {
                Ok(Ok(epochs)) => epochs,
                Ok(Err(e)) if crate::broker::redis::link::is_connection_error(&e) => {
                    return Err(BusError::Command(e));
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reading the rooms' epochs failed");
                    return Ok(());
                }
                Err(_) => return Err(BusError::CommandSilent),
            };
        for (room, epoch) in rooms.iter().zip(epochs) {
            let known = self.delivery.cursor(room).map(|c| c.epoch);
            if known.is_some() && epoch != known {
                self.check_room(c, room).await?;
            }
        }
        Ok(())
    }

    /// Reads `room`'s epoch (setting a new one if its keys were lost); on a change the room
    /// is delivered again from seq 1.
    pub(super) async fn check_room(
        &mut self,
        c: &mut Connections,
        room: &str,
    ) -> Result<(), BusError> {
        let Some(cursor) = self.delivery.cursor(room) else {
            return Ok(());
        };
        let cmd = epoch_cmd(room, cursor.epoch.saturating_add(1));
        let mut conn = c.pubsub.clone();
        let epoch = match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async(&mut conn)).await {
            Ok(Ok(Value::Int(epoch))) if epoch > 0 => epoch.unsigned_abs(),
            Ok(Ok(other)) => {
                tracing::error!(room, reply = ?other, "the room's epoch is unreadable");
                return Ok(());
            }
            Ok(Err(e)) => return Err(BusError::Subscriber(e)),
            Err(_) => return Err(BusError::SubscriberSilent),
        };
        if epoch != cursor.epoch {
            self.restart_room(room, cursor.epoch, epoch);
            self.delivery.catch_up(&mut c.pubsub, room).await?;
        }
        Ok(())
    }

    /// After a reconnection, before catching `room` up: a new epoch restarts the room; in
    /// the same epoch, a head below the last delivered seq, or another entry at that seq,
    /// means the seq went backwards (see [`BusTask::diverged`]).
    pub(super) async fn verify_room(
        &mut self,
        c: &mut Connections,
        room: &str,
    ) -> Result<(), BusError> {
        let Some(cursor) = self.delivery.cursor(room) else {
            return Ok(());
        };
        let mut conn = c.pubsub.clone();
        let floor = cursor.epoch.saturating_add(1);
        let head =
            match tokio::time::timeout(COMMAND_TIMEOUT, read_head(&mut conn, room, floor)).await {
                Ok(Ok(head)) => head,
                Ok(Err(ReadError::Redis(e))) => {
                    return Err(BusError::Head {
                        room: room.to_owned(),
                        source: e,
                    });
                }
                Ok(Err(ReadError::Format(why))) => {
                    tracing::error!(room, reason = %why, "the room's head is unreadable");
                    return Ok(());
                }
                Err(_) => return Err(BusError::HeadTimeout(room.to_owned())),
            };
        if head.epoch != cursor.epoch {
            self.restart_room(room, cursor.epoch, head.epoch);
            return Ok(());
        }
        if cursor.last == 0 {
            return Ok(());
        }
        if head.last_seq < cursor.last {
            tracing::warn!(
                room,
                head = head.last_seq,
                delivered = cursor.last,
                "the room's history ends before what was delivered"
            );
            return self.diverged(c, room, cursor.epoch).await;
        }
        let Some(known) = self.state.seen.fingerprint(room, cursor.epoch, cursor.last) else {
            return Ok(());
        };
        let at = format!("{}-0", cursor.last);
        let mut read = ::redis::cmd("XRANGE");
        read.arg(log_key(room)).arg(&at).arg(&at);
        let entry = match tokio::time::timeout(COMMAND_TIMEOUT, read.query_async(&mut conn)).await {
            Ok(Ok(value)) => parse_entries(room, cursor.epoch, value).ok(),
            Ok(Err(e)) => {
                return Err(BusError::Head {
                    room: room.to_owned(),
                    source: e,
                });
            }
            Err(_) => return Err(BusError::HeadTimeout(room.to_owned())),
        };
        let differs = entry
            .and_then(|entries| entries.into_iter().next())
            .is_some_and(|e| fingerprint(&e.from, e.ts) != known);
        if differs {
            tracing::warn!(
                room,
                seq = cursor.last,
                "another entry holds the last seq delivered"
            );
            return self.diverged(c, room, cursor.epoch).await;
        }
        Ok(())
    }

    /// `room`'s seq went backwards in `epoch` (a failover lost entries this relay had
    /// delivered): the room gets a new epoch, unless another relay gave it one already, and
    /// is delivered again from seq 1 in it.
    pub(super) async fn diverged(
        &mut self,
        c: &mut Connections,
        room: &str,
        epoch: u64,
    ) -> Result<(), BusError> {
        let mut conn = c.command.conn.clone();
        let new =
            match tokio::time::timeout(COMMAND_TIMEOUT, bump_epoch(&mut conn, room, epoch)).await {
                Ok(Ok(new)) => new,
                Ok(Err(e)) => return Err(BusError::Command(e)),
                Err(_) => return Err(BusError::CommandSilent),
            };
        if new != epoch {
            self.restart_room(room, epoch, new);
            self.delivery.catch_up(&mut c.pubsub, room).await?;
        }
        Ok(())
    }

    fn restart_room(&mut self, room: &str, old: u64, new: u64) {
        tracing::warn!(
            room,
            old,
            new,
            "the room has a new epoch (its history was lost, or its seq went backwards): \
             it restarts at seq 1"
        );
        self.delivery.restart(room, new);
    }
}
