// What the page remembers across reloads, in localStorage: the nick, the rooms joined (in
// the order shown), the room in view, and for each room the last (epoch, seq) seen, so a
// reloaded page resumes every room exactly where it stopped.

/** The storage key; the version suffix changes if the stored shape ever does. */
const KEY = 'chitchat:v1';

/**
 * The saved state: `{nick, active, rooms: [{name, epoch, seq}]}`. Writes are batched per
 * task (many messages arriving in one chunk cost one write) and flushed before the page
 * goes away.
 */
export class Store {
  constructor(storage = safeStorage()) {
    this.storage = storage;
    this.state = { nick: '', active: null, rooms: [] };
    this.dirty = false;
    this.load();
    addEventListener('pagehide', () => this.flush());
  }

  load() {
    try {
      const raw = this.storage?.getItem(KEY);
      if (!raw) return;
      const s = JSON.parse(raw);
      this.state.nick = typeof s.nick === 'string' ? s.nick : '';
      this.state.active = typeof s.active === 'string' ? s.active : null;
      this.state.rooms = Array.isArray(s.rooms)
        ? s.rooms
            .filter((r) => r && typeof r.name === 'string')
            .map((r) => ({ name: r.name, epoch: safeInt(r.epoch), seq: safeInt(r.seq) }))
        : [];
    } catch {
      // Unreadable state (another version, a hand edit): start fresh.
    }
  }

  get nick() {
    return this.state.nick;
  }

  set nick(v) {
    this.state.nick = v;
    this.save();
  }

  get active() {
    return this.state.active;
  }

  set active(v) {
    this.state.active = v;
    this.save();
  }

  /** The rooms, in order, each `{name, epoch, seq}`. */
  get rooms() {
    return this.state.rooms;
  }

  room(name) {
    return this.state.rooms.find((r) => r.name === name);
  }

  addRoom(name) {
    if (!this.room(name)) {
      this.state.rooms.push({ name, epoch: 0, seq: 0 });
      this.save();
    }
  }

  removeRoom(name) {
    this.state.rooms = this.state.rooms.filter((r) => r.name !== name);
    if (this.state.active === name) this.state.active = null;
    this.save();
  }

  /** Records the last message seen in a room. */
  setPosition(name, epoch, seq) {
    const r = this.room(name);
    if (r && (r.epoch !== epoch || r.seq !== seq)) {
      r.epoch = epoch;
      r.seq = seq;
      this.save();
    }
  }

  /** Marks the state for writing at the end of this task. */
  save() {
    if (this.dirty) return;
    this.dirty = true;
    queueMicrotask(() => this.flush());
  }

  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      this.storage?.setItem(KEY, JSON.stringify(this.state));
    } catch {
      // Storage full or disabled: the page still works, it just forgets on reload.
    }
  }
}

function safeInt(v) {
  return Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    // Storage disabled (some private modes): nothing is remembered.
    return null;
  }
}
