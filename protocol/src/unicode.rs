//! The Unicode side of the text and nick rules: which characters are invisible, which are
//! bidi controls, and the confusable skeleton of a nick (Unicode TR39, by the
//! `unicode-security` crate). web/js/codec/validate.js holds the same character lists.

use unicode_security::MixedScript;

/// Bidi embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): they
/// reorder the text around them, so a message could show something other than what it
/// says. Refused anywhere in a text.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing: white space, and the format, joiner, filler and selector
/// characters below (Unicode's default-ignorable code points plus the blank-looking
/// fillers). A text made only of these is refused as invisible.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `nick` is in Unicode normalization form KC: a nick that NFKC would change
/// (fullwidth `ａｄｍｉｎ`, ligatures, superscripts) has a plainer twin and is refused.
pub(crate) fn is_nfkc(nick: &str) -> bool {
    unicode_normalization::is_nfkc(nick)
}

/// Whether `nick` is written in one script (TR39 section 5.1, augmented script sets: digits
/// and `_ - .` go with any script, Han with kana or Hangul counts as one).
pub(crate) fn is_single_script(nick: &str) -> bool {
    nick.is_single_script()
}

/// The key under which nicks that look alike collide: the TR39 skeleton of the nick in
/// lower case, so `admin`, `Admin` and `аdmin` (Cyrillic а) share one key. Not for
/// display; compare keys, never show them.
pub fn nick_skeleton(nick: &str) -> String {
    unicode_security::skeleton(&nick.to_lowercase()).collect()
}
