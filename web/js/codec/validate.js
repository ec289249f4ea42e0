// The nick, room and text rules of protocol/src/validate.rs, so the page can check before
// sending. Each returns null when the value is fine, else {code, name, message}.

import { MAX_DM_MEMBERS, MAX_DM_ROOM_LEN, MAX_NICK_CHARS, MAX_ROOM_LEN, MAX_TOPIC_BYTES } from './constants.js';
import { ErrorCode } from './errors.js';
import { isWellFormed } from './types.js';

const NICK_BAD_CHAR = /[^\p{Alphabetic}\p{N}_.-]/u;
const ROOM_BAD_CHAR = /[^A-Za-z0-9_.-]/u;
const ALL_WHITE_SPACE = /^\p{White_Space}*$/u;
// General category Cc, except tab and newline.
const CONTROL = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/;
// Bidi embedding, override and isolate controls (protocol/src/unicode.rs, is_bidi_control).
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
// Only characters that draw nothing (protocol/src/unicode.rs, is_invisible).
const INVISIBLE_ONLY =
  /^[\p{White_Space}\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u2800\u3164\uFE00-\uFE0F\uFEFF\uFFA0\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}]*$/u;

// Scripts the page tells apart when checking that a nick is in one script. The relay's
// check (TR39 augmented script sets over every script) is the authority; a script missing
// here only makes the page's check more lenient, never stricter.
const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Nko',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada',
  'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Georgian', 'Hangul',
  'Ethiopic', 'Cherokee', 'Canadian_Aboriginal', 'Ogham', 'Runic', 'Khmer', 'Mongolian',
  'Hiragana', 'Katakana', 'Bopomofo', 'Han', 'Yi', 'Coptic', 'Tifinagh', 'Vai', 'Javanese',
  'Balinese', 'Sundanese', 'Adlam', 'Glagolitic', 'Gothic',
].map((name) => [name, new RegExp(`\\p{Script_Extensions=${name}}`, 'u')]);
// TR39's augmented sets: Han goes with kana (Japanese), Hangul (Korean) and Bopomofo.
const AUGMENT = { Han: ['Hanb', 'Jpan', 'Kore'], Hiragana: ['Jpan'], Katakana: ['Jpan'], Hangul: ['Kore'], Bopomofo: ['Hanb'] };

/** The scripts a character may belong to (augmented), or null for any (digits, `_ - .`). */
function scriptsOf(c) {
  const found = new Set();
  for (const [name, re] of SCRIPTS) {
    if (!re.test(c)) continue;
    found.add(name);
    for (const extra of AUGMENT[name] ?? []) found.add(extra);
  }
  return found.size === 0 ? null : found;
}

/** Whether the nick's characters share a script (protocol/src/unicode.rs, is_single_script). */
function isSingleScript(nick) {
  let common = null;
  for (const c of nick) {
    const scripts = scriptsOf(c);
    if (scripts === null) continue;
    common = common === null ? scripts : new Set([...common].filter((s) => scripts.has(s)));
    if (common.size === 0) return false;
  }
  return true;
}

function invalid(name, message) {
  return { code: ErrorCode[name], name, message };
}

/** UTF-8 length of a string, without encoding it (a lone surrogate counts as U+FFFD). */
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function codePoints(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    n++;
  }
  return n;
}

/** Shows a character the way Rust's `{:?}` does, near enough for people. */
function quoteChar(c) {
  const escapes = { '\0': '\\0', '\t': '\\t', '\n': '\\n', '\r': '\\r', "'": "\\'", '\\': '\\\\' };
  if (escapes[c]) return `'${escapes[c]}'`;
  if (/^[\p{C}\p{Z}]$/u.test(c) && c !== ' ') return `'\\u{${c.codePointAt(0).toString(16)}}'`;
  return `'${c}'`;
}

/**
 * A nick is 1 to 32 characters, each a letter or digit (any script) or one of `_ - .`, in
 * NFKC and in one script. Nicks that look alike (TR39 skeletons) are told apart by the relay
 * only: the page has no confusables table.
 */
export function validateNick(nick) {
  const chars = codePoints(nick);
  if (chars === 0) return invalid('INVALID_NICK', 'nick is empty');
  if (chars > MAX_NICK_CHARS) {
    return invalid('INVALID_NICK', `nick is ${chars} characters; the most is ${MAX_NICK_CHARS}`);
  }
  const bad = NICK_BAD_CHAR.exec(nick);
  if (bad) {
    return invalid('INVALID_NICK', `nick may not contain ${quoteChar(bad[0])}: use letters, digits, '_', '-' or '.'`);
  }
  if (nick.normalize('NFKC') !== nick) {
    return invalid('INVALID_NICK', 'nick is not in Unicode NFKC form (e.g. fullwidth letters): type it plainly');
  }
  if (!isSingleScript(nick)) {
    return invalid('INVALID_NICK', 'nick mixes scripts (e.g. Latin with Cyrillic letters): use one script');
  }
  return null;
}

/** Orders strings by code point, as Rust orders `str`s (JS `<` compares UTF-16 units). */
function byCodePoint(a, b) {
  const x = [...a].map((c) => c.codePointAt(0));
  const y = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function validateDm(room) {
  const bytes = utf8Length(room);
  if (bytes > MAX_DM_ROOM_LEN) {
    return invalid('INVALID_ROOM', `direct-message room name is ${bytes} bytes; the most is ${MAX_DM_ROOM_LEN}`);
  }
  const nicks = room.slice(1).split('+');
  if (nicks.length < 2 || nicks.length > MAX_DM_MEMBERS) {
    return invalid('INVALID_ROOM', `a direct-message room names 2 to ${MAX_DM_MEMBERS} nicks joined by '+', e.g. @alice+bob`);
  }
  for (const nick of nicks) {
    const bad = validateNick(nick);
    if (bad) return invalid('INVALID_ROOM', `direct-message room: ${JSON.stringify(nick)}: ${bad.message}`);
  }
  for (let i = 1; i < nicks.length; i++) {
    if (byCodePoint(nicks[i - 1], nicks[i]) >= 0) {
      const sorted = [...new Set(nicks)].sort(byCodePoint);
      return invalid('INVALID_ROOM', `a direct-message room names each nick once, in order: @${sorted.join('+')}`);
    }
  }
  return null;
}

/**
 * The nicks a direct-message room is for (`@alice+bob`: 2 to 8 nicks joined by `+`, in
 * code point order, each once), or null when `room` is not a valid direct-message room name.
 */
export function dmMembers(room) {
  if (!room.startsWith('@') || validateDm(room) !== null) return null;
  return room.slice(1).split('+');
}

/** The direct-message room name for these nicks (any order, repeats allowed). */
export function dmRoom(nicks) {
  return `@${[...new Set(nicks)].sort(byCodePoint).join('+')}`;
}

/**
 * A room name is 1 to 64 ASCII letters, digits, `_`, `-` or `.`, starting with a letter or
 * digit, or a direct-message room name (see dmMembers). Names are case-sensitive.
 */
export function validateRoom(room) {
  if (room.startsWith('@')) return validateDm(room);
  if (room.length === 0) return invalid('INVALID_ROOM', 'room name is empty');
  const bytes = utf8Length(room);
  if (bytes > MAX_ROOM_LEN) {
    return invalid('INVALID_ROOM', `room name is ${bytes} bytes; the most is ${MAX_ROOM_LEN}`);
  }
  if (!/^[A-Za-z0-9]/.test(room)) {
    return invalid('INVALID_ROOM', 'room name must start with a letter or digit');
  }
  const bad = ROOM_BAD_CHAR.exec(room);
  if (bad) {
    return invalid('INVALID_ROOM', `room name may not contain ${quoteChar(bad[0])}: use a-z, A-Z, 0-9, '_', '-' or '.'`);
  }
  return null;
}

/**
 * A text is 1 to `maxBytes` bytes of UTF-8 (Welcome's limits.max_text_bytes), not only white
 * space, with no control characters other than newline and tab, no bidi controls, and
 * something visible (not only zero-width and other format characters).
 */
export function validateText(text, maxBytes) {
  const bytes = utf8Length(text);
  if (bytes > maxBytes) {
    return invalid('TEXT_TOO_LONG', `message is ${bytes} bytes; the most is ${maxBytes}`);
  }
  if (ALL_WHITE_SPACE.test(text)) return invalid('INVALID_TEXT', 'message is empty');
  if (CONTROL.test(text)) return invalid('INVALID_TEXT', 'message holds control characters');
  if (BIDI_CONTROL.test(text)) {
    return invalid('INVALID_TEXT', 'message holds bidi control characters (U+202A-U+202E, U+2066-U+2069)');
  }
  if (INVISIBLE_ONLY.test(text)) {
    return invalid('INVALID_TEXT', 'message has nothing visible (only white space or zero-width characters)');
  }
  // Rust strings cannot hold a lone surrogate; the encoder would refuse it.
  if (!isWellFormed(text)) return invalid('INVALID_TEXT', 'message holds an unpaired surrogate');
  return null;
}

/**
 * A room topic: empty (none), or one line of at most MAX_TOPIC_BYTES under the rules of a
 * message text (Rust validate_topic).
 */
export function validateTopic(topic) {
  if (topic === '') return null;
  if (topic.includes('\n')) return invalid('INVALID_TEXT', 'a topic is one line');
  const problem = validateText(topic, MAX_TOPIC_BYTES);
  return problem ? { ...problem, message: problem.message.replace('message', 'topic') } : null;
}
