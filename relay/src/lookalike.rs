//! Look-alike nicks: whether a nick joining a room looks like a different nick already in
//! it (the same [`chitchat_protocol::nick_skeleton`]). Skeletons are cached per nick, so a
//! join into a room of a thousand members costs a thousand lookups, not a thousand skeletons.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The most cached skeletons; past it the cache starts over. Bounds memory (a few MB at
/// most) against a stream of fresh nicks; a live room's nicks come back in one join.
const MAX_CACHED: usize = 100_000;

/// A cache of nick skeletons shared by every room of a relay.
#[derive(Default)]
pub struct LookAlikes {
    skeletons: Mutex<HashMap<String, String>>,
}

impl LookAlikes {
    /// A nick among `listed` that differs from `nick` but has the same skeleton.
    pub fn find(&self, listed: &[String], nick: &str) -> Option<String> {
        let key = chitchat_protocol::nick_skeleton(nick);
        let mut cache = self
            .skeletons
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() + listed.len() > MAX_CACHED {
            cache.clear();
        }
        listed
            .iter()
            .find(|other| {
                if other.as_str() == nick {
                    return false;
                }
                if let Some(skeleton) = cache.get(other.as_str()) {
                    return *skeleton == key;
                }
                let skeleton = chitchat_protocol::nick_skeleton(other);
                let same = skeleton == key;
                cache.insert((*other).clone(), skeleton);
                same
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_different_nick_with_the_same_skeleton_only() {
        let looks = LookAlikes::default();
        let listed = vec!["ace".to_string(), "bob".to_string()];
        assert_eq!(
            looks.find(&listed, "\u{430}\u{441}\u{435}"),
            Some("ace".into())
        );
        assert_eq!(looks.find(&listed, "ace"), None);
        assert_eq!(looks.find(&listed, "carol"), None);
        // Cached skeletons answer the same.
        assert_eq!(looks.find(&listed, "ACE"), Some("ace".into()));
    }
}
