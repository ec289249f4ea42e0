// The room model: what the page knows of each room, without the DOM. Each room's messages
// are shown once each, in seq order; own sends wait as pending until the relay confirms them
// (a Sent reply or the message on the stream, whichever comes first); messages from others
// that arrive out of sight count as unread; and the last (epoch, seq) seen is the point the
// room resumes from after a reconnect or a reload (store.js keeps it).
//
// A room's log holds entries of four kinds (protocol version 2): a text entry is a message;
// an edit, a delete or a reaction changes a message held here, and each takes a seq of its
// own, so resuming after a seq brings every change made since, once. Each message is held
// in its latest state (`messageState`), the shape a history page's messages already have.
//
// Plain data and rules only: it runs in Node (web/test/rooms.test.js) as in the page.

import { REACTIONS } from './codec.js';

/**
 * Where an item sits in a room's timeline, as one number: a message at its seq; a notice
 * just after the last seq seen when it was written; the "New" marker just before the first
 * unread message; pending sends after everything; the history top before everything.
 */
export const timelineKey = {
  message: (seq) => seq,
  notice: (lastSeq) => lastSeq + 0.5,
  marker: (seq) => seq - 0.25,
  pending: Infinity,
  top: -Infinity,
};

/**
 * The item an item with `key` goes after, walking back from `last` with `previous` (new
 * items are mostly the newest, so the walk is short): the last one whose key is not greater,
 * or null when it goes first. Equal keys keep arrival order.
 */
export function placeAfter(last, key, keyOf, previous) {
  let at = last;
  while (at && keyOf(at) > key) at = previous(at);
  return at ?? null;
}

/** Refusals that may not recur: the same message can be sent again. */
const RETRYABLE = new Set(['RATE_LIMITED', 'UNAVAILABLE', 'STORAGE_FULL', 'INTERNAL', 'NOT_JOINED']);

/**
 * Refusals of a relay whose message store cannot take the message now (paused, failing
 * over, out of disk): the page sends it again by itself, with the same send id, until it is
 * stored, discarded, or the session ends. The send id makes every try safe: the relay
 * stores a repeated id once.
 */
export const STORE_REFUSALS = new Set(['UNAVAILABLE', 'STORAGE_FULL']);

/**
 * The wait before the next try of a send the store refused: quick at first (a store that
 * paused for a moment), doubling, and capped so a store that comes back is noticed within
 * seconds while a long outage costs one request per pending message every few seconds.
 */
export const SEND_RETRY_FIRST_MS = 100;
export const SEND_RETRY_MAX_MS = 4_000;

/** The wait after the `tries`-th refusal (1 for the first) of a send the store refused. */
export function sendRetryDelay(tries) {
  return Math.min(SEND_RETRY_MAX_MS, SEND_RETRY_FIRST_MS * 2 ** Math.min(tries - 1, 16));
}

/** Why an unconfirmed send failed once the rejoined stream had caught up without it. */
const NOT_STORED = { title: 'The connection dropped before the relay stored this message.', detail: null };

/** The states of a pending send that may have reached the relay's store. */
const IN_FLIGHT = new Set(['sending', 'retrying', 'unconfirmed']);

let nextLocal = 1;

/**
 * A random send id for `SendOnce`: non-zero and below 2^53, so a JavaScript number holds it
 * exactly. The relay stores a send repeating an id once; every try of one pending message,
 * automatic or the user's "retry", carries its id.
 */
export function newSendId() {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return ((hi & 0x1f_ffff) * 2 ** 32 + lo) || 1;
}

/** One room as the page knows it. */
export class Room {
  /** `saved`: the resume point store.js kept, `{epoch, seq}`, if any. */
  constructor(name, saved) {
    this.name = name;
    /** The history epoch seen (0: never joined). */
    this.epoch = saved?.epoch ?? 0;
    /** The last seq seen on the room stream: everything up to it has been shown. */
    this.lastSeq = saved?.seq ?? 0;
    this.joined = false;
    this.joining = false;
    this.joinError = null;
    /** Joined.last_seq of the current join: the stream's backfill ends there. */
    this.backfillTo = 0;
    this.members = new Set();
    /** The room's topic as the relay last told it ('' for none; null: not told yet). */
    this.topic = null;
    /** nick -> time the indicator expires. */
    this.typing = new Map();
    this.unread = 0;
    /** How many of the unread messages mention this person (or are in a direct-message room). */
    this.mentions = 0;
    /** The first message counted in `unread`, marked "New" when the room is shown. */
    this.firstUnread = null;
    /** The unread messages ({seq, mention}), oldest first, so a read marker can drop some. */
    this.unreadSeqs = [];
    /** The highest read marker known (this device's or another's): nothing at or below it counts as unread. */
    this.readTo = 0;
    /** Every message shown: seq -> its state (`messageState`). */
    this.shown = new Map();
    /** Replies among them: the seq answered -> the seqs of its replies. */
    this.replies = new Map();
    /**
     * Changes to messages not held, kept while a history page is on its way: the page may
     * have been read before they were stored (see `takePage`).
     */
    this.orphans = [];
    /** Own messages not yet confirmed, oldest first. */
    this.pending = [];
    /** Whether older messages exist before the oldest shown (null: not asked yet). */
    this.more = null;
    this.loadingOlder = false;
    /** What the view holds while the room is out of sight. */
    this.newBelow = 0;
    this.scrollTop = null;
    this.draft = '';
    /** The seq the next message answers (the composer's reply), or null. */
    this.replyTo = null;
  }

  /** Where a (re)join resumes: the last position seen, or null for a first join. */
  resumePoint() {
    return this.epoch ? { epoch: this.epoch, seq: this.lastSeq } : null;
  }

  /** The oldest seq shown, or null. */
  oldestSeq() {
    let min = null;
    for (const seq of this.shown.keys()) if (min === null || seq < min) min = seq;
    return min;
  }

  /**
   * Takes the room's history epoch. 'lost' when it replaces another: the relay lost the
   * room's history, so what is shown no longer applies (forgotten here, the caller clears the
   * view); 'new' when it is the first one seen; 'same' otherwise.
   */
  setEpoch(epoch) {
    if (this.epoch === epoch) return 'same';
    const lost = this.epoch !== 0;
    if (lost) {
      this.shown.clear();
      this.replies.clear();
      this.orphans = [];
      this.replyTo = null;
      this.lastSeq = 0;
      this.readTo = 0;
      this.more = false;
    }
    this.epoch = epoch;
    return lost ? 'lost' : 'new';
  }

  /**
   * A successful Join reply (after `setEpoch(reply.epoch)`): members, where the backfill
   * ends, and the resume point moved past what the relay no longer has. `resume` is what the
   * Join asked for; `hadMessages` whether anything was shown before it. Returns `gone` (older
   * messages that can no longer be shown) and `before` (fetch the newest history page before
   * this seq: 1 or less means the room has none; null: nothing to fetch).
   */
  joinedWith(reply, resume, hadMessages) {
    this.joining = false;
    this.joined = true;
    this.members = new Set(reply.members);
    this.backfillTo = reply.last_seq;
    const outcome = reply.resume;
    let gone = 0;
    if (outcome === 'Live') {
      this.lastSeq = Math.max(this.lastSeq, reply.last_seq);
    } else if (outcome?.Truncated) {
      gone = outcome.Truncated.first_seq - 1 - (resume?.seq ?? 0);
      this.lastSeq = Math.max(this.lastSeq, outcome.Truncated.first_seq - 1);
    }
    let before = null;
    if (!hadMessages && (outcome === 'Live' || outcome === 'Resumed')) {
      // What came before the first message the stream brings: the newest page of history.
      before = outcome === 'Live' ? reply.last_seq + 1 : resume.seq + 1;
    }
    return { gone: Math.max(gone, 0), before };
  }

  /**
   * An entry (or a version-1 message) from the room stream: false for a repeat (each seq
   * once: anything at or below the last seen), otherwise the resume point moves to it,
   * whatever its kind.
   */
  receive(m) {
    if (m.seq <= this.lastSeq) return false;
    this.lastSeq = m.seq;
    this.epoch = m.epoch;
    return true;
  }

  /**
   * Records a message as shown (a message, a text entry or a history page's state): its
   * state, or null if its seq already is shown (a Sent reply, a history page, the stream).
   */
  record(m) {
    if (this.shown.has(m.seq)) return null;
    const state = messageState(m);
    this.shown.set(state.seq, state);
    if (state.reply_to !== null) {
      const replies = this.replies.get(state.reply_to) ?? new Set();
      replies.add(state.seq);
      this.replies.set(state.reply_to, replies);
    }
    return state;
  }

  /**
   * A change entry received (after `receive`): folded into the message it names if that is
   * held; returns the message's state, or null when nothing shown changed (the message is
   * not held: a later history page shows it in its latest state).
   */
  change(entry) {
    const target = changeTarget(entry);
    if (target === null) return null;
    const state = this.shown.get(target);
    if (!state) {
      if (this.loadingOlder) {
        this.orphans.push(entry);
        if (this.orphans.length > MAX_ORPHANS) this.orphans.shift();
      }
      return null;
    }
    return applyChange(state, entry) ? state : null;
  }

  /**
   * A history page's messages (oldest first) to show: those not held yet, each recorded, in
   * its latest state (none if the page is of another epoch, or null: the request failed).
   * The page may have been read before changes the stream brought while it was on its way
   * (`orphans`): replayed over it in seq order, they end where the log does, since each
   * change sets what it touches (a text, one nick's reaction) and every change stored after
   * the read is among them. Kept for this page only: over a later one they could undo newer
   * changes.
   */
  takePage(page) {
    const added = [];
    const messages = page && this.pageFits(page) ? page.messages : [];
    for (const m of messages) {
      const state = this.record(m);
      if (state) added.push(state);
    }
    for (const entry of this.orphans) {
      const state = this.shown.get(changeTarget(entry));
      if (state && added.includes(state)) applyChange(state, entry);
    }
    this.orphans = [];
    return added;
  }

  /** The seqs of the shown messages that reply to `seq`. */
  repliesTo(seq) {
    return [...(this.replies.get(seq) ?? [])];
  }

  /** The newest message of `nick` shown and not deleted (what Up edits), or null. */
  lastOwn(nick) {
    let last = null;
    for (const state of this.shown.values()) {
      if (state.from === nick && !state.deleted && (last === null || state.seq > last.seq)) last = state;
    }
    return last;
  }

  /** A history page may be shown if it is of the epoch in view (or none is yet). */
  pageFits(page) {
    return page.epoch === this.epoch || !this.epoch;
  }

  /** Someone else's message arrived out of sight; `mention`: it mentions this person. */
  countUnread(seq, mention = false) {
    if (seq <= this.readTo) return;
    this.unreadSeqs.push({ seq, mention });
    if (this.unread === 0) this.firstUnread = seq;
    this.unread += 1;
    if (mention) this.mentions += 1;
  }

  /** The room is seen: the counts reset; returns the first unread seq (to mark) or null. */
  markRead() {
    const first = this.unread > 0 ? this.firstUnread : null;
    this.unread = 0;
    this.mentions = 0;
    this.firstUnread = null;
    this.unreadSeqs = [];
    return first;
  }

  /** An own message typed (`replyTo`: the seq it answers): queued until it can be sent. */
  queue(text, replyTo = null) {
    const p = { local: nextLocal++, text, replyTo, sendId: newSendId(), state: 'queued', error: null, done: false, tries: 0 };
    this.pending.push(p);
    return p;
  }

  /** Takes `p` out of the pending sends, for good. */
  settle(p) {
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
    p.done = true;
  }

  /**
   * An own message on the stream before its Sent: the pending copy it stands for (settled)
   * or null.
   */
  adopt(m) {
    const replyTo = m.reply_to ?? null;
    const p = this.pending.find((q) => IN_FLIGHT.has(q.state) && q.text === m.text && q.replyTo === replyTo);
    if (!p) return null;
    this.settle(p);
    return p;
  }

  /**
   * The Sent reply to `p`: settles it and returns the message to show (recorded as shown),
   * or null when `p` was already settled or its seq is already shown.
   */
  confirm(p, sent, nick) {
    if (p.done) return null;
    this.settle(p);
    return this.record({ seq: sent.seq, from: nick, ts: sent.ts, text: p.text, reply_to: p.replyTo });
  }

  /** `p` failed for `error` (from explainError). */
  fail(p, error) {
    p.state = 'failed';
    p.error = error;
  }

  /**
   * After a rejoin's backfill: own messages the stream did not bring back were not stored.
   * Returns the sends that failed.
   */
  caughtUp() {
    if (!this.joined || this.lastSeq < this.backfillTo) return [];
    const failed = this.pending.filter((p) => p.state === 'unconfirmed');
    for (const p of failed) this.fail(p, NOT_STORED);
    return failed;
  }

  /** Presence: true if it changes the members. */
  presence(nick, joined) {
    const had = this.members.has(nick);
    if (joined) this.members.add(nick);
    else this.members.delete(nick);
    return had !== joined;
  }

  /** A member's rename (version 3): true if it changes the members. */
  rename(from, to) {
    const had = this.members.delete(from);
    const known = this.members.has(to);
    this.members.add(to);
    return had || !known;
  }

  /** The members in display order: `self` first, then by name. */
  memberNames(self) {
    return [...this.members].sort((a, b) => (a === self ? -1 : b === self ? 1 : a.localeCompare(b)));
  }

  /** Who is typing at `now`, sorted (expired entries dropped), and when the next expires. */
  typingAt(now) {
    let next = Infinity;
    const nicks = [];
    for (const [nick, until] of this.typing) {
      if (until <= now) this.typing.delete(nick);
      else {
        nicks.push(nick);
        next = Math.min(next, until);
      }
    }
    nicks.sort();
    return { nicks, next };
  }
}

/**
 * The most changes kept for messages not held while a history page is on its way: more than
 * a page's worth of a busy room's changes in one round trip, few enough to cost nothing.
 */
const MAX_ORPHANS = 1000;

/**
 * A message in the latest-state shape (the protocol's MessageState) from a history page's
 * message, a text entry of the stream, or a version-1 message (never edited, no reply).
 */
export function messageState(m) {
  const text = m.body?.Text;
  return {
    seq: m.seq,
    from: m.from,
    ts: m.ts,
    text: text ? text.text : m.text,
    reply_to: (text ? text.reply_to : m.reply_to) ?? null,
    edited_ts: m.edited_ts ?? 0,
    deleted: m.deleted ?? false,
    reactions: (m.reactions ?? []).map((r) => ({ emoji: r.emoji, nicks: [...r.nicks] })),
  };
}

/** Whether an entry (or a version-1 message) is a message: a text entry. */
export function isText(entry) {
  return !entry.body || 'Text' in entry.body;
}

/** The seq of the message a change entry names; null for a text entry or a kind not known. */
export function changeTarget(entry) {
  const body = entry.body;
  if (!body) return null;
  const change = body.Edit ?? body.Delete ?? body.React;
  return change ? change.target : null;
}

/**
 * Folds a change entry into the state of the message it names: an edit replaces the text,
 * a delete leaves a tombstone (no text, no reactions), a reaction adds or removes its
 * author's nick. A deleted message takes no more changes. Returns whether anything changed.
 */
export function applyChange(state, entry) {
  const { body } = entry;
  if (state.deleted || changeTarget(entry) !== state.seq) return false;
  if (body.Edit) {
    state.text = body.Edit.text;
    state.edited_ts = entry.ts;
    return true;
  }
  if (body.Delete) {
    state.deleted = true;
    state.text = '';
    state.reactions = [];
    return true;
  }
  const { emoji, on } = body.React;
  return react(state, entry.from, emoji, on);
}

/** Adds (`on`) or removes `nick`'s `emoji` on `state`; reactions stay in REACTIONS order. */
function react(state, nick, emoji, on) {
  const at = state.reactions.findIndex((r) => r.emoji === emoji);
  const had = at >= 0 && state.reactions[at].nicks.includes(nick);
  if (had === on) return false;
  if (on) {
    if (at >= 0) {
      state.reactions[at].nicks.push(nick);
      state.reactions[at].nicks.sort(compareText);
    } else {
      state.reactions.push({ emoji, nicks: [nick] });
      state.reactions.sort((a, b) => reactionRank(a.emoji) - reactionRank(b.emoji));
    }
  } else {
    const nicks = state.reactions[at].nicks.filter((n) => n !== nick);
    if (nicks.length) state.reactions[at].nicks = nicks;
    else state.reactions.splice(at, 1);
  }
  return true;
}

/** An emoji's place in REACTIONS (one the page does not know, last). */
function reactionRank(emoji) {
  const i = REACTIONS.indexOf(emoji);
  return i < 0 ? REACTIONS.length : i;
}

function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `nick` has reacted to `state` with `emoji`: a click on it takes the reaction back. */
export function hasReacted(state, nick, emoji) {
  return state.reactions.some((r) => r.emoji === emoji && r.nicks.includes(nick));
}

/** Whether sending the same text again may help: only if the trouble was passing. */
export function retryable(p) {
  return !p.error?.name || RETRYABLE.has(p.error.name);
}

/** Unread messages over all rooms. */
export function totalUnread(rooms) {
  let unread = 0;
  for (const r of rooms) unread += r.unread;
  return unread;
}

/**
 * Unread messages in the rooms other than `active` (by name): what the phone's rooms button
 * counts while the room list is closed.
 */
export function unreadElsewhere(rooms, active) {
  let unread = 0;
  for (const r of rooms) if (r.name !== active) unread += r.unread;
  return unread;
}

/** The room after (or before, `down` false) `active` in `names`, wrapping around. */
export function nextRoom(names, active, down) {
  const i = names.indexOf(active);
  return names[(i + (down ? 1 : names.length - 1)) % names.length];
}
