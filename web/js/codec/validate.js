// The nick, room and text rules of protocol/src/validate.rs, so the page can check before
// sending. Each returns null when the value is fine, else {code, name, message}.

import { MAX_NICK_CHARS, MAX_ROOM_LEN } from './constants.js';
import { ErrorCode } from './errors.js';
import { isWellFormed } from './types.js';

const NICK_BAD_CHAR = /[^\p{Alphabetic}\p{N}_.-]/u;
const ROOM_BAD_CHAR = /[^A-Za-z0-9_.-]/u;
const ALL_WHITE_SPACE = /^\p{White_Space}*$/u;
// General category Cc, except tab and newline.
const CONTROL = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/;

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

/** A nick is 1 to 32 characters, each a letter or digit (any script) or one of `_ - .`. */
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
  return null;
}

/**
 * A room name is 1 to 64 ASCII letters, digits, `_`, `-` or `.`, starting with a letter or
 * digit. Names are case-sensitive.
 */
export function validateRoom(room) {
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
 * space, with no control characters other than newline and tab.
 */
export function validateText(text, maxBytes) {
  const bytes = utf8Length(text);
  if (bytes > maxBytes) {
    return invalid('TEXT_TOO_LONG', `message is ${bytes} bytes; the most is ${maxBytes}`);
  }
  if (ALL_WHITE_SPACE.test(text)) return invalid('INVALID_TEXT', 'message is empty');
  if (CONTROL.test(text)) return invalid('INVALID_TEXT', 'message holds control characters');
  // Rust strings cannot hold a lone surrogate; the encoder would refuse it.
  if (!isWellFormed(text)) return invalid('INVALID_TEXT', 'message holds an unpaired surrogate');
  return null;
}
