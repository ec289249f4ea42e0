// Version 3's read markers on the page: a room shown and read is marked read up to the
// newest seq in view (MarkRead, debounced: one request per room per pause), and a marker
// from another device of the same person (ReadMarker with id 0, or the stored one after a
// join) drops that room's unread messages up to it, so the badges agree on every device.

/** How long the page waits after a room was read before it marks it: reading a busy room
 * sends one MarkRead per pause, well within the relay's marker rate. */
export const MARK_DELAY_MS = 400;

/** Whether `conn`'s session can keep read markers: open, and speaking version 3. */
export function canMark(conn) {
  return Boolean(conn?.isOpen) && (conn.session?.welcome?.version ?? 0) >= 3;
}

/**
 * The rooms' markers as this page knows them, and the MarkRead requests still to send.
 * `send(room, seq)` sends one and resolves with the relay's answer ({room, seq}).
 */
export class ReadMarkers {
  constructor({ send, delay = MARK_DELAY_MS, timers = globalThis }) {
    this.send = send;
    this.delay = delay;
    this.timers = timers;
    /** room -> the highest marker known (sent, answered or heard). */
    this.known = new Map();
    /** room -> the seq to mark when its timer fires. */
    this.waiting = new Map();
    this.timer = null;
    /** Set once the relay refused markers for this session (no user to keep them for). */
    this.refused = false;
  }

  /** The room `room` was read up to `seq`: marked after the pause, unless known already. */
  read(room, seq) {
    if (this.refused || !(seq > 0) || seq <= (this.known.get(room) ?? 0)) return;
    this.waiting.set(room, Math.max(seq, this.waiting.get(room) ?? 0));
    if (this.timer === null) this.timer = this.timers.setTimeout(() => this.flush(), this.delay);
  }

  /** Sends what waits now. */
  flush() {
    this.timer = null;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const [room, seq] of waiting) {
      if (seq <= (this.known.get(room) ?? 0)) continue;
      this.heard(room, seq);
      Promise.resolve(this.send(room, seq)).then(
        (answer) => this.heard(room, answer?.seq ?? 0),
        (e) => {
          // A guest without its nick's claim, or an older relay: stop asking.
          if (e?.codeName === 'FORBIDDEN' || e?.codeName === 'UNKNOWN_FRAME') this.refused = true;
          // Any other failure (rate, a lost session) waits for the next read: the marker
          // is only a convenience.
          if (this.known.get(room) === seq) this.known.delete(room);
        },
      );
    }
  }

  /** A marker the relay told (an answer, another device's, or the stored one). */
  heard(room, seq) {
    if (seq > (this.known.get(room) ?? 0)) this.known.set(room, seq);
  }

  /** Forgets the waiting requests (the session ended); what is known stays. */
  stop() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.waiting.clear();
    this.refused = false;
  }
}

/**
 * Drops `room`'s unread messages up to `seq` (a marker), recounting its badge; later
 * arrivals at or below it do not count. Returns whether the counts changed.
 */
export function readUpTo(room, seq) {
  if (seq > room.readTo) room.readTo = seq;
  const before = room.unread;
  const mentionsBefore = room.mentions;
  room.unreadSeqs = room.unreadSeqs.filter((u) => u.seq > seq);
  room.unread = room.unreadSeqs.length;
  room.mentions = room.unreadSeqs.filter((u) => u.mention).length;
  room.firstUnread = room.unreadSeqs[0]?.seq ?? null;
  return room.unread !== before || room.mentions !== mentionsBefore;
}

/** A marker from the relay ({room, seq}): the room's badge and the page title follow. */
export function applyMarker(app, { room: name, seq }) {
  app.markers.heard(name, seq);
  const room = app.rooms.get(name);
  if (!room || !readUpTo(room, seq)) return;
  app.sidebar.renderRoomList();
  app.status.renderTitle();
}

/** `room` is in view on a visible page: mark it read up to the newest seq seen. */
export function markSeen(app, room) {
  if (!room || room.name !== app.active || document.hidden || !canMark(app.conn)) return;
  if (room.lastSeq > room.readTo) room.readTo = room.lastSeq;
  app.markers.read(room.name, room.lastSeq);
}
