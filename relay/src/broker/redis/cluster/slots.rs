//! Which hash slot a command touches: the slot of a key (CRC16 of the key, or of its
//! `{hash tag}`, modulo 16384, as Redis Cluster computes it), the key a command names, and
//! the redirections (`MOVED`, `ASK`, `TRYAGAIN`) a node answers with.

use ::redis::{Arg, Cmd, ServerErrorKind, Value};

/// The hash slots of a Redis Cluster (fixed by Redis).
pub const SLOTS: u16 = 16384;

/// A node of the cluster by its address.
pub type NodeAddr = (String, u16);

/// The slot of `key`: only the part between the first `{` and the next `}` counts when it
/// is not empty, so every key of a room (`chitchat:{room}:...`) shares one slot.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(tagged) % SLOTS
}

/// Commands that name no key: sent to every master on their own (`PING`, `SCRIPT LOAD`),
/// or, inside a pipeline, with the pipeline's keyed commands.
const KEYLESS: &[&str] = &[
    "ASKING",
    "AUTH",
    "CLIENT",
    "CLUSTER",
    "COMMAND",
    "CONFIG",
    "DBSIZE",
    "DISCARD",
    "ECHO",
    "EXEC",
    "FLUSHALL",
    "FLUSHDB",
    "FUNCTION",
    "HELLO",
    "INFO",
    "MULTI",
    "PING",
    "READONLY",
    "READWRITE",
    "ROLE",
    "SCRIPT",
    "SELECT",
    "TIME",
    "WAIT",
];

/// The key that decides where `cmd` runs: the first key of a script (`EVAL`, `EVALSHA`),
/// none for the commands in [`KEYLESS`] (and scripts without keys), else the first argument.
pub fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = String::from_utf8_lossy(args.next()?).to_ascii_uppercase();
    match name.as_str() {
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            let _script = args.next()?;
            let keys: usize = std::str::from_utf8(args.next()?).ok()?.parse().ok()?;
            if keys == 0 { None } else { args.next() }
        }
        name if KEYLESS.contains(&name) => None,
        _ => args.next(),
    }
}

/// Where a node sent a command instead of running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot lives on another node now: ask it, and learn the new layout.
    Moved(NodeAddr),
    /// The slot is moving and the key is on the importing node: ask it once, after `ASKING`.
    Ask(NodeAddr),
    /// The keys of a multi-key command are split by a slot's move: try again shortly.
    TryAgain,
}

/// The redirection `reply` asks for, if it is one. `from` is the answering node, whose host
/// stands in for one the redirection leaves out.
pub fn redirect(reply: &Value, from: &NodeAddr) -> Option<Redirect> {
    let Value::ServerError(error) = reply else {
        return None;
    };
    let target = || {
        // "<slot> <host>:<port>"
        let (_, node) = error.details()?.trim().split_once(' ')?;
        let (host, port) = node.rsplit_once(':')?;
        let host = if host.is_empty() {
            from.0.clone()
        } else {
            host.to_owned()
        };
        Some((host, port.parse().ok()?))
    };
    match error.kind()? {
        ServerErrorKind::Moved => target().map(Redirect::Moved),
        ServerErrorKind::Ask => target().map(Redirect::Ask),
        ServerErrorKind::TryAgain => Some(Redirect::TryAgain),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_redis_cluster() {
        // Values from CLUSTER KEYSLOT.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"{foo}bar"), slot(b"foo"));
        assert_eq!(slot(b"chitchat:{lobby}:seq"), slot(b"lobby"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}"), slot(b"{bar"));
    }

    #[test]
    fn keys_of_commands() {
        let mut eval = ::redis::cmd("EVALSHA");
        eval.arg("abc").arg(2).arg("chitchat:{a}:seq").arg("x");
        assert_eq!(key_of(&eval), Some(&b"chitchat:{a}:seq"[..]));
        let mut keyless = ::redis::cmd("EVAL");
        keyless.arg("return 1").arg(0);
        assert_eq!(key_of(&keyless), None);
        assert_eq!(key_of(::redis::cmd("PING").arg("x")), None);
        assert_eq!(key_of(::redis::cmd("script").arg("load")), None);
        assert_eq!(key_of(::redis::cmd("GET").arg("k")), Some(&b"k"[..]));
        assert_eq!(
            key_of(::redis::cmd("SSUBSCRIBE").arg("chitchat:{a}:ch")),
            Some(&b"chitchat:{a}:ch"[..])
        );
    }
}
