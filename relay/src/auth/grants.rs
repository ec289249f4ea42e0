//! Room grants: a token's `rooms` claim (`{"team-*": "rw", "announcements": "r"}`) and the
//! relay's `--private-rooms` patterns. A pattern is a room name in which `*` stands for any
//! run of characters (globset, with every other glob character refused up front).

use std::collections::BTreeMap;

use chitchat_protocol::MAX_DM_ROOM_LEN;
use globset::{GlobBuilder, GlobMatcher};

/// The most patterns one token may grant. Why 64: a token is at most 4096 bytes, and every
/// request is checked against each pattern in turn.
pub const MAX_GRANTS: usize = 64;

/// A room pattern: room-name characters and `*`.
#[derive(Debug, Clone)]
pub struct RoomPattern {
    text: String,
    matcher: GlobMatcher,
}

impl RoomPattern {
    /// Checks and compiles a pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<RoomPattern, String> {
        if text.is_empty() || text.len() > MAX_DM_ROOM_LEN {
            return Err(format!(
                "room pattern {text:?} must be 1 to {MAX_DM_ROOM_LEN} bytes"
            ));
        }
        if let Some(c) = text.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+' | '*'))
        }) {
            return Err(format!(
                "room pattern {text:?} may not contain {c:?}: use room-name characters and '*'"
            ));
        }
        let matcher = GlobBuilder::new(text)
            .literal_separator(false)
            .build()
            .map_err(|e| format!("room pattern {text:?}: {e}"))?
            .compile_matcher();
        Ok(RoomPattern {
            text: text.to_string(),
            matcher,
        })
    }

    /// Whether `room` matches.
    pub fn matches(&self, room: &str) -> bool {
        self.matcher.is_match(room)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Read and/or write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// `Join`, `History`, `Who`.
    pub read: bool,
    /// `Send`, `SendOnce`.
    pub write: bool,
}

impl Access {
    /// What reading needs.
    pub const READ: Access = Access {
        read: true,
        write: false,
    };
    /// What sending needs.
    pub const WRITE: Access = Access {
        read: false,
        write: true,
    };

    /// `r`, `w` or `rw` (`wr` too).
    pub fn parse(text: &str) -> Result<Access, String> {
        match text {
            "r" => Ok(Access::READ),
            "w" => Ok(Access::WRITE),
            "rw" | "wr" => Ok(Access {
                read: true,
                write: true,
            }),
            _ => Err(format!(
                "{text:?} is not a grant: use \"r\", \"w\" or \"rw\""
            )),
        }
    }

    /// Whether this access includes all of `need`.
    pub fn covers(self, need: Access) -> bool {
        (self.read || !need.read) && (self.write || !need.write)
    }

    fn union(self, other: Access) -> Access {
        Access {
            read: self.read || other.read,
            write: self.write || other.write,
        }
    }

    /// `r`, `w`, `rw` or `-`.
    pub fn as_str(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            (false, true) => "w",
            (false, false) => "-",
        }
    }
}

/// The rooms an identity may read or write.
#[derive(Debug, Clone, Default)]
pub struct Grants(Vec<(RoomPattern, Access)>);

impl Grants {
    /// From a token's `rooms` claim.
    pub fn from_claim(rooms: &BTreeMap<String, String>) -> Result<Grants, String> {
        if rooms.len() > MAX_GRANTS {
            return Err(format!(
                "the rooms claim has {} patterns; the most is {MAX_GRANTS}",
                rooms.len()
            ));
        }
        rooms
            .iter()
            .map(|(pattern, access)| {
                let access = Access::parse(access)
                    .map_err(|e| format!("rooms claim, pattern {pattern:?}: {e}"))?;
                Ok((RoomPattern::parse(pattern)?, access))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Grants)
    }

    /// Everything granted on `room` by any pattern.
    pub fn access(&self, room: &str) -> Access {
        self.0
            .iter()
            .filter(|(pattern, _)| pattern.matches(room))
            .fold(Access::default(), |acc, (_, access)| acc.union(*access))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(pairs: &[(&str, &str)]) -> Grants {
        let map = pairs
            .iter()
            .map(|(p, a)| (p.to_string(), a.to_string()))
            .collect();
        Grants::from_claim(&map).unwrap()
    }

    #[test]
    fn star_matches_any_run_and_grants_add_up() {
        let g = grants(&[("team-*", "rw"), ("announcements", "r"), ("*-log", "w")]);
        assert_eq!(g.access("team-a"), Access::parse("rw").unwrap());
        assert_eq!(g.access("team-"), Access::parse("rw").unwrap());
        assert_eq!(g.access("teams"), Access::default());
        assert_eq!(g.access("announcements"), Access::READ);
        assert_eq!(g.access("announcements2"), Access::default());
        assert_eq!(g.access("team-x-log"), Access::parse("rw").unwrap());
        assert_eq!(g.access("a-log"), Access::WRITE);
        assert!(g.access("announcements").covers(Access::READ));
        assert!(!g.access("announcements").covers(Access::WRITE));
    }

    #[test]
    fn glob_syntax_other_than_star_is_refused() {
        for bad in ["team-?", "[ab]", "{a,b}", "a/b", "a\\*", "", "a b"] {
            assert!(RoomPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Access::parse("x").is_err());
        assert!(Access::parse("").is_err());
    }
}
