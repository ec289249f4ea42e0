// Words and numbers for people: times, days, the relay's error codes in plain language,
// typing lines, and message text with its links made clickable (as DOM nodes, never markup).

import { errorInfo } from './codec.js';

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const yearDayFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'long', day: 'numeric' });
const numberFormat = new Intl.NumberFormat();

/** "9:41 AM" */
export function formatTime(ts) {
  return timeFormat.format(new Date(ts));
}

/** "Tuesday, 4 March 2025 at 09:41:07": for a title attribute. */
export function formatFull(ts) {
  return fullFormat.format(new Date(ts));
}

/** Midnight of the local day of `ts`, as a number: two messages share a day if equal. */
export function dayKey(ts) {
  const d = new Date(ts);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** "Today", "Yesterday", "Monday, March 3", or with the year when it is not this year. */
export function formatDay(ts, now = Date.now()) {
  const day = dayKey(ts);
  const today = dayKey(now);
  if (day === today) return 'Today';
  if (day === dayKey(today - 12 * 3600 * 1000)) return 'Yesterday';
  return new Date(ts).getFullYear() === new Date(now).getFullYear()
    ? dayFormat.format(new Date(ts))
    : yearDayFormat.format(new Date(ts));
}

/** "1,234" */
export function formatNumber(n) {
  return numberFormat.format(n);
}

/** The jump button's words: "Jump to newest", "1 new message", "1,234 new messages". */
export function jumpLabel(n) {
  if (n === 0) return 'Jump to newest';
  return n === 1 ? '1 new message' : `${formatNumber(n)} new messages`;
}

/**
 * What went wrong, for people, by error code name: the sentence leads, the relay's own
 * message follows as detail.
 */
const PLAIN = {
  TEXT_TOO_LONG: 'This message is too long. Shorten it and try again.',
  INVALID_TEXT: 'The relay cannot take this text.',
  RATE_LIMITED: 'You are sending too fast. Wait a moment, then try again.',
  NOT_JOINED: 'You are not in that room.',
  INVALID_ROOM: 'That room name is not allowed.',
  TOO_MANY_ROOMS: 'You are in as many rooms as the relay allows. Leave one first.',
  INVALID_NICK: 'That nick is not allowed.',
  NICK_TAKEN: 'Someone else keeps that nick. Pick another, or paste its secret from your other device.',
  NICK_LOOKALIKE: 'Someone in that room has a nick that looks just like yours. Pick another nick to join it.',
  QUOTA_EXCEEDED: 'Too many new rooms or messages from your network just now. Try again in a minute.',
  INVALID_REQUEST: 'The relay refused the request.',
  UNAVAILABLE: 'The relay cannot store messages right now. Try again in a moment.',
  INTERNAL: 'Something went wrong on the relay. Try again.',
  STORAGE_FULL: 'The relay is out of disk space and cannot store messages right now.',
  SERVER_BUSY: 'The relay is full right now.',
  HANDSHAKE_TIMEOUT: 'The relay did not hear from this page in time.',
  IDLE_TIMEOUT: 'The connection was idle too long.',
  SLOW_CONSUMER: 'This page fell behind the conversation.',
  SHUTTING_DOWN: 'The relay is restarting.',
  UNSUPPORTED_VERSION: 'This page is out of date. Reload it to get the latest version.',
  PROTOCOL_VIOLATION: 'The page and the relay misunderstood each other.',
  BAD_FRAME: 'The page and the relay misunderstood each other.',
  UNKNOWN_FRAME: 'The page and the relay misunderstood each other.',
  FRAME_TOO_LARGE: 'That was too much to send at once.',
  INVALID_UTF8: 'The page and the relay misunderstood each other.',
  NO_SUCH_MESSAGE: 'That message is gone: it was deleted, or the relay no longer has it.',
  NOT_AUTHOR: 'Only the person who wrote a message can change or delete it.',
  EDIT_LIMIT: 'This message has been edited as many times as the relay allows. Send a new message instead.',
};

/**
 * Codes whose relay message is for the relay's operator (which store failed and how, disk
 * figures), not for people chatting: the plain words say all they can act on.
 */
const OPERATOR_DETAIL = new Set(['UNAVAILABLE', 'INTERNAL', 'STORAGE_FULL']);

// Whole numbers of four or more digits standing alone (not inside a word, a decimal or a
// number already grouped): written the way the page writes numbers ("4,096").
const BARE_NUMBER = /(?<![\w.,])\d{4,}(?![\w.,]\d)/g;

/**
 * A relay error as {title, detail}: `title` in plain words, `detail` the relay's message,
 * tidied into a sentence with its numbers formatted like the page's own (or null when it only
 * repeats the code's description or is meant for the relay's operator).
 */
export function explainError(code, message) {
  const info = errorInfo(code);
  const title = PLAIN[info.name] ?? `The relay refused it (${info.description}).`;
  let detail = OPERATOR_DETAIL.has(info.name) ? '' : (message ?? '').trim();
  if (detail.toLowerCase() === info.description.toLowerCase()) detail = '';
  if (detail) {
    detail = detail.replace(BARE_NUMBER, (n) => formatNumber(Number(n)));
    detail = detail[0].toUpperCase() + detail.slice(1);
    if (!/[.!?]$/.test(detail)) detail += '.';
  }
  return { title, detail: detail || null, name: info.name };
}

/** "ada is typing…", "ada and bo are typing…", "ada, bo and cy are typing…", "5 people are typing…". */
export function typingLine(nicks) {
  if (nicks.length === 0) return '';
  if (nicks.length === 1) return `${nicks[0]} is typing…`;
  if (nicks.length === 2) return `${nicks[0]} and ${nicks[1]} are typing…`;
  if (nicks.length === 3) return `${nicks[0]}, ${nicks[1]} and ${nicks[2]} are typing…`;
  return `${nicks.length} people are typing…`;
}

/** A nick or room problem from codec.js's validators as a sentence, with a space called a space. */
export function problemText(problem) {
  const m = problem.message.replace("contain ' '", 'contain spaces');
  return m[0].toUpperCase() + m.slice(1) + '.';
}

/** "in 3 s", "in 1 min" */
export function formatDelay(ms) {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

// Line breaks other than a newline: CR LF, CR, NEL, U+2028 LINE SEPARATOR, U+2029
// PARAGRAPH SEPARATOR. Shown as plain newlines, so the fold counts every line.
const OTHER_BREAKS = /\r\n?|[\u0085\u2028\u2029]/g;
// Bidi embedding, override and isolate controls: the relay refuses them in new texts; any
// that arrive anyway are dropped rather than let reorder the line.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
// More than two blank lines in a row: folded to two, so a text cannot open a gap that makes
// its tail look like a message of its own.
const BLANK_RUN = /\n{3,}/g;

/**
 * Message text as the page shows it: every line break a newline, bidi controls dropped,
 * long runs of blank lines shortened. The text stays inside its own message box (and the
 * box isolates its direction), so no text can draw a line that looks like another message.
 */
export function displayText(text) {
  return text.replace(OTHER_BREAKS, '\n').replace(BIDI_CONTROLS, '').replace(BLANK_RUN, '\n\n');
}

/** How much of a message a reply's quote shows, in characters. */
const QUOTE_CHARS = 80;

/** A message as a reply quotes it: its start, on one line ("message deleted" once deleted). */
export function quoteOf(m) {
  if (m.deleted) return 'message deleted';
  const text = displayText(m.text).replace(/\s+/g, ' ').trim();
  const chars = [...text];
  return chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join('')}…` : text;
}

// http(s) URLs, stopping before trailing punctuation that usually ends a sentence.
const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;

// A mention: '@' and a nick (letters, digits, '_', '-', '.'; not ending in '.' or '-', so
// "thanks @ada." names ada), not inside a word or an address (mail@ada.org names nobody).
const MENTION_RE = /(?<![\p{Alphabetic}\p{N}_.@-])@([\p{Alphabetic}\p{N}_.-]*[\p{Alphabetic}\p{N}_])/gu;

/** The nicks `text` mentions (`@nick`), in order, each as written. */
export function mentionsIn(text) {
  return [...text.matchAll(MENTION_RE)].map((m) => m[1]);
}

/** Whether `text` mentions `nick` (`@nick`; nicks compared case-insensitively). */
export function mentions(text, nick) {
  if (!nick) return false;
  const want = nick.toLowerCase();
  return mentionsIn(text).some((n) => n.toLowerCase() === want);
}

/** Plain text as nodes: text, with each `@nick` a span (class `mention`, and `me` for `me`). */
function mentionNodes(text, me) {
  const nodes = [];
  let last = 0;
  const mine = me ? me.toLowerCase() : null;
  for (const m of text.matchAll(MENTION_RE)) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    const span = document.createElement('span');
    span.className = m[1].toLowerCase() === mine ? 'mention me' : 'mention';
    span.textContent = m[0];
    nodes.push(span);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/**
 * Message text as DOM nodes: text nodes, with http(s) links as anchors that open in a new
 * tab without giving it access to this page, and mentions as spans (those of `me`, the
 * person's own nick, marked). Newlines are kept by CSS (white-space).
 */
export function textNodes(text, me = null) {
  const nodes = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (m.index > last) nodes.push(...mentionNodes(text.slice(last, m.index), me));
    const a = document.createElement('a');
    a.href = m[0];
    a.textContent = m[0];
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    nodes.push(a);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(...mentionNodes(text.slice(last), me));
  return nodes;
}

/** A stable hue (0-359) for a nick, so each person keeps one colour. */
export function nickHue(nick) {
  let h = 2166136261;
  for (let i = 0; i < nick.length; i++) {
    h ^= nick.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** One or two letters for an avatar. */
export function initials(nick) {
  const parts = nick.split(/[_.\-]+/).filter(Boolean);
  const chars = (parts.length > 1 ? [parts[0], parts[1]] : [nick]).map((p) => [...p][0] ?? '');
  const s = parts.length > 1 ? chars.join('') : [...nick].slice(0, 1).join('');
  return s.toUpperCase();
}
