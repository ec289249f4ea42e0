//! Version 3's rename on a live connection, and the guest secret that goes with it: the
//! relay moves the session's claim to the new nick, so the new nick's Hellos must send the
//! same secret from now on.

use chitchat_protocol::{ClientFrame, ServerFrame};

use super::{Client, Connector, unexpected};
use crate::ClientError;

impl Client {
    /// Renames this session to `nick` without reconnecting (the relay must speak version
    /// 3; see `Welcome.version`). Returns the nick as the relay recorded it.
    pub async fn rename(&self, nick: &str) -> Result<String, ClientError> {
        let nick = nick.to_owned();
        match self.request(|id| ClientFrame::Rename { id, nick }).await? {
            ServerFrame::Renamed { nick, .. } => Ok(nick),
            other => Err(unexpected(&other)),
        }
    }
}

impl Connector {
    /// After a rename from `from` to `to` (open mode): saves `from`'s guest secret as
    /// `to`'s, since the relay claimed `to` with it. A secret `to` had before is replaced:
    /// it no longer holds the claim.
    pub fn adopt_secret(&self, from: &str, to: &str) -> Result<(), ClientError> {
        let Some(secrets) = self.cfg.guest_secrets.as_ref() else {
            return Ok(());
        };
        if self.token.is_some() || secrets.path(from) == secrets.path(to) {
            return Ok(());
        }
        let secret = secrets.secret(from)?;
        secrets.import(to, &secret, true).map(|_| ())
    }
}
