// The chat page: rooms, messages, members, typing, the composer, and what the person sees
// of the connection. It keeps each room's messages in order by seq, each once, remembers
// where every room stopped (store.js) and resumes from there after a reconnect or a reload.
//
// Every piece of user text reaches the DOM through textContent (dom.js, format.js).

import { MAX_FRAME_LEN, utf8Length, validateNick, validateRoom, validateText } from './codec.js';
import { Connection } from './connection.js';
import { clear, h, icon } from './dom.js';
import {
  dayKey,
  explainError,
  formatDay,
  formatDelay,
  formatFull,
  formatNumber,
  formatTime,
  initials,
  nickHue,
  textNodes,
  typingLine,
} from './format.js';
import { Store } from './store.js';

/** Messages per History request: a screenful and then some. */
const HISTORY_PAGE = 50;

/** Send a typing signal at most this often while the person types. */
const TYPING_SEND_MS = 2_000;

/** Show "X is typing" this long after the last signal (signals may be lost; there is no "stopped"). */
const TYPING_SHOW_MS = 4_000;

/** Consecutive messages from one sender within this gap are shown as one group. */
const GROUP_GAP_MS = 5 * 60 * 1000;

/** Within this many pixels of the bottom counts as "at the bottom": new messages keep it there. */
const NEAR_BOTTOM_PX = 80;

/** Scrolled this close to the top, the next older page is fetched. */
const LOAD_OLDER_PX = 240;

/** The counter appears once a draft passes this share of the size limit. */
const COUNTER_FROM = 0.8;

/** The room a new person starts in. */
const FIRST_ROOM = 'lobby';

/** Widest layout in which the members panel is a drawer rather than a column. */
const WIDE_MEMBERS = window.matchMedia('(min-width: 1100px)');

// ---------------------------------------------------------------------------------------

/** One room as the page knows it. */
class Room {
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
    /** nick -> time the indicator expires. */
    this.typing = new Map();
    this.unread = 0;
    /** The first message counted in `unread`, marked "New" when the room is shown. */
    this.firstUnread = null;
    /** seq -> li, every message shown. */
    this.messages = new Map();
    /** Own messages not yet confirmed, oldest first. */
    this.pending = [];
    /** Whether older messages exist before the oldest shown (null: not asked yet). */
    this.more = null;
    this.loadingOlder = false;
    this.newBelow = 0;
    this.scrollTop = null;
    this.draft = '';
    this.top = h('li', { class: 'history-top', dataset: { key: '-Infinity' } });
    this.list = h('ol', { class: 'message-list', 'aria-label': `Messages in #${name}` }, this.top);
  }

  /** The oldest seq shown, or null. */
  oldestSeq() {
    let min = null;
    for (const seq of this.messages.keys()) if (min === null || seq < min) min = seq;
    return min;
  }
}

let nextLocal = 1;

class App {
  constructor(config) {
    this.config = config;
    this.store = new Store();
    this.nick = this.store.nick;
    this.rooms = new Map();
    this.active = null;
    this.limits = null;
    this.lastTyping = new Map();
    this.scrollBatch = null;
    this.statusTimer = null;
    this.conn = null;
    this.$ = Object.fromEntries(
      [
        'app', 'rooms-toggle', 'conn-status', 'conn-text', 'nick-button', 'nick-label', 'nick-avatar',
        'sidebar', 'room-list', 'join-form', 'join-input', 'join-error', 'main', 'room-title',
        'room-topic', 'members-toggle', 'members-count', 'leave-button', 'banner', 'banner-text',
        'banner-action', 'messages', 'jump', 'typing', 'composer', 'composer-input', 'counter',
        'send-button', 'composer-error', 'members', 'member-list', 'members-close', 'scrim',
        'announcer', 'alerts', 'nick-dialog', 'nick-form', 'nick-input', 'nick-error',
        'nick-cancel', 'empty', 'empty-form', 'empty-input', 'empty-error', 'room-view',
        'toasts', 'sidebar-close',
      ].map((id) => [id, document.getElementById(id)]),
    );
  }

  start() {
    for (const saved of this.store.rooms) this.rooms.set(saved.name, new Room(saved.name, saved));
    this.#bindUi();
    const want = this.store.active;
    this.#show(this.rooms.has(want) ? want : (this.rooms.keys().next().value ?? null));
    this.#renderRoomList();
    this.#renderNick();
    if (!this.nick || validateNick(this.nick)) {
      this.#renderStatus({ state: 'idle' });
      this.#openNickDialog({ first: true });
    } else {
      this.#connect();
    }
  }

  // --- Connection ----------------------------------------------------------------------

  #connect() {
    if (typeof WebTransport === 'undefined') return;
    if (this.conn) {
      this.conn.setNick(this.nick);
      return;
    }
    const conn = new Connection({ config: this.config, nick: this.nick });
    this.conn = conn;
    conn.addEventListener('status', (e) => this.#onStatus(e.detail));
    conn.addEventListener('welcome', (e) => this.#onWelcome(e.detail.welcome));
    conn.addEventListener('open', (e) => this.#onRoomOpen(e.detail));
    conn.addEventListener('message', (e) => this.#onMessage(e.detail.message));
    conn.addEventListener('presence', (e) => this.#onPresence(e.detail));
    conn.addEventListener('typing', (e) => this.#onTyping(e.detail));
    conn.addEventListener('fatal', (e) => this.#onFatal(e.detail));
    conn.addEventListener('rtt', (e) => {
      const ms = Math.max(1, Math.round(e.detail.ms));
      this.$['conn-status'].dataset.rtt = String(ms);
      this.$['conn-status'].title = `Connected to ${this.relayName} · round trip ${ms} ms`;
    });
    conn.start();
  }

  #onStatus(s) {
    clearInterval(this.statusTimer);
    // After a GoAway the relay is restarting until a session opens again.
    if (s.goAway) this.relayRestarting = true;
    if (s.state === 'open') this.relayRestarting = false;
    this.$.app.dataset.conn = s.state;
    if (s.state !== 'open') {
      this.$['conn-status'].title = '';
      delete this.$['conn-status'].dataset.rtt;
      for (const room of this.rooms.values()) {
        room.joined = false;
        room.joining = false;
      }
      this.#renderRoomList();
      this.#renderHeader();
    }
    const render = () => this.#renderStatus(s);
    render();
    if (s.state === 'waiting') this.statusTimer = setInterval(render, 1000);
  }

  #renderStatus(s) {
    let pill;
    let banner = null;
    let action = null;
    if (s.state === 'open') {
      pill = 'Connected';
    } else if (s.state === 'connecting') {
      pill = this.everConnected ? 'Reconnecting…' : 'Connecting…';
      if (this.relayRestarting) banner = 'The relay is restarting. Reconnecting…';
      else if (this.everConnected) banner = 'Connection lost. Reconnecting…';
      else if (s.attempt > 1) banner = 'Connecting to the relay…';
    } else if (s.state === 'waiting') {
      const left = formatDelay(s.retryAt - Date.now());
      pill = 'Reconnecting…';
      banner = this.relayRestarting
        ? `The relay is restarting. Reconnecting in ${left}…`
        : this.everConnected
          ? `Connection lost. Reconnecting in ${left}…`
          : `Cannot reach the relay. Trying again in ${left}…`;
      action = 'Reconnect now';
    } else if (s.state === 'idle') {
      pill = 'Not connected';
    } else {
      pill = 'Offline';
      banner = this.fatalText ?? 'Disconnected.';
      action = this.nickProblem ? 'Change nick' : 'Reconnect';
    }
    this.$['conn-text'].textContent = pill;
    this.$['conn-status'].dataset.state = s.state;
    this.$.banner.hidden = banner === null;
    this.$['banner-text'].textContent = banner ?? '';
    this.$['banner-action'].hidden = action === null;
    this.$['banner-action'].textContent = action ?? '';
  }

  #onWelcome(welcome) {
    this.everConnected = true;
    // How many sessions this page has opened: tells a reconnect from a session kept alive.
    this.$.app.dataset.sessions = String(Number(this.$.app.dataset.sessions ?? 0) + 1);
    this.fatalText = null;
    this.nickProblem = false;
    this.limits = welcome.limits;
    this.relayName = welcome.node_id;
    this.$['conn-status'].title = `Connected to ${welcome.node_id}`;
    this.#updateCounter();
    for (const room of this.rooms.values()) this.#join(room);
  }

  #onFatal({ code, message }) {
    const e = explainError(code, message);
    this.fatalText = [e.title, e.detail].filter(Boolean).join(' ');
    if (e.name === 'INVALID_NICK') {
      this.nickProblem = true;
      this.#openNickDialog({ error: this.fatalText });
    } else if (!['SHUTTING_DOWN', 'SLOW_CONSUMER', 'IDLE_TIMEOUT'].includes(e.name)) {
      // Those three end in a reconnect that the banner shows; the rest deserve a word.
      this.#toast(this.fatalText, 'error');
    }
  }

  // --- Rooms ---------------------------------------------------------------------------

  async #join(room) {
    if (!this.conn?.isOpen || room.joining || room.joined) return;
    room.joining = true;
    room.joinError = null;
    this.#renderRoomList();
    const resume = room.epoch ? { epoch: room.epoch, seq: room.lastSeq } : null;
    const hadMessages = room.messages.size > 0;
    let joined;
    try {
      joined = await this.conn.request('Join', { room: room.name, resume });
    } catch (e) {
      room.joining = false;
      if (e.lost) return;
      const why = explainError(e.code, e.message);
      room.joinError = why;
      this.#notice(room, `Could not join #${room.name}. ${why.title}${why.detail ? ` ${why.detail}` : ''}`, 'error');
      this.#renderRoomList();
      this.#renderHeader();
      return;
    }
    if (this.rooms.get(room.name) !== room) {
      // Left while joining: leave on the relay too.
      if (!this.rooms.has(room.name)) this.conn.request('Leave', { room: room.name }).catch(() => {});
      return;
    }
    room.joining = false;
    room.joined = true;
    this.#applyEpoch(room, joined.epoch);
    room.members = new Set(joined.members);
    room.backfillTo = joined.last_seq;
    const outcome = joined.resume;
    if (outcome === 'Live') {
      room.lastSeq = Math.max(room.lastSeq, joined.last_seq);
      this.store.setPosition(room.name, room.epoch, room.lastSeq);
    } else if (outcome?.Truncated) {
      const gone = outcome.Truncated.first_seq - 1 - (resume?.seq ?? 0);
      if (gone > 0) {
        this.#notice(room, `${formatNumber(gone)} older message${gone === 1 ? ' is' : 's are'} no longer stored and cannot be shown.`, 'warn');
      }
      room.lastSeq = Math.max(room.lastSeq, outcome.Truncated.first_seq - 1);
    }
    if (!hadMessages && (outcome === 'Live' || outcome === 'Resumed')) {
      // What came before the first message the stream brings: the newest page of history.
      const before = outcome === 'Live' ? joined.last_seq + 1 : resume.seq + 1;
      if (before > 1) this.#loadOlder(room, before);
      else this.#setMore(room, false);
    }
    this.#checkCaughtUp(room);
    for (const p of room.pending) if (p.state === 'queued') this.#sendPending(room, p);
    this.#renderRoomList();
    this.#renderHeader();
    this.#renderMembers();
  }

  /** A new epoch means the relay lost the room's history: what we hold no longer applies. */
  #applyEpoch(room, epoch) {
    if (room.epoch && room.epoch !== epoch) {
      for (const li of room.messages.values()) li.remove();
      room.messages.clear();
      room.lastSeq = 0;
      this.#setMore(room, false);
      this.#notice(room, 'The relay lost this room’s earlier history. Showing what it has now.', 'warn');
    }
    if (room.epoch !== epoch) {
      room.epoch = epoch;
      this.store.setPosition(room.name, room.epoch, room.lastSeq);
    }
  }

  #onRoomOpen({ room: name, epoch }) {
    const room = this.rooms.get(name);
    if (room) this.#applyEpoch(room, epoch);
  }

  /** Joins (or creates: rooms exist once someone is in them) and shows a room. */
  #openRoom(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(name);
      this.rooms.set(name, room);
      this.store.addRoom(name);
      this.#join(room);
    }
    this.#show(name);
    this.#renderRoomList();
  }

  async #leave(room) {
    this.rooms.delete(room.name);
    this.store.removeRoom(room.name);
    if (room.joined && this.conn?.isOpen) {
      this.conn.request('Leave', { room: room.name }).catch(() => {});
    }
    if (this.active === room.name) {
      const next = this.rooms.keys().next().value ?? null;
      this.#show(next);
    }
    this.#renderRoomList();
    this.#announce(`Left #${room.name}`);
  }

  #show(name) {
    const prev = this.rooms.get(this.active);
    if (prev && prev.name !== name) {
      prev.scrollTop = this.#atBottom() ? null : this.$.messages.scrollTop;
      prev.draft = this.$['composer-input'].value;
    }
    this.active = name;
    this.store.active = name;
    const room = this.rooms.get(name);
    this.$.empty.hidden = room !== undefined;
    this.$.app.classList.toggle('no-room', room === undefined);
    this.$['room-view'].hidden = room === undefined;
    clear(this.$.messages);
    if (room) {
      room.list.querySelector(':scope > .new-marker')?.remove();
      const firstUnread = room.unread > 0 ? room.firstUnread : null;
      room.unread = 0;
      room.firstUnread = null;
      room.newBelow = 0;
      this.$.messages.append(room.list);
      this.$['composer-input'].value = room.draft;
      this.$['composer-input'].placeholder = `Message #${room.name}`;
      this.$['composer-input'].setAttribute('aria-label', `Message #${room.name}`);
      this.#autosize();
      if (room.scrollTop === null) this.#scrollToBottom();
      else this.$.messages.scrollTop = room.scrollTop;
      if (firstUnread !== null) this.#markNew(room, firstUnread);
      if (room.more === null && room.messages.size === 0 && room.joined) this.#setMore(room, false);
    }
    this.#renderHeader();
    this.#renderMembers();
    this.#renderTyping();
    this.#renderJump();
    this.#updateCounter();
    this.#renderTitle();
  }

  // --- Messages ------------------------------------------------------------------------

  #onMessage(m) {
    const room = this.rooms.get(m.room);
    if (!room) return;
    if (room.epoch && m.epoch !== room.epoch) this.#applyEpoch(room, m.epoch);
    // Each seq once: anything at or below the last seen is a repeat.
    if (m.seq <= room.lastSeq) return;
    room.lastSeq = m.seq;
    room.epoch = m.epoch;
    this.store.setPosition(room.name, room.epoch, room.lastSeq);
    if (room.typing.delete(m.from) && room.name === this.active) this.#renderTyping();
    const own = m.from === this.nick;
    if (!room.messages.has(m.seq)) {
      if (own) this.#adoptPending(room, m);
      this.#addMessage(room, m);
      if (!own) this.#noteNew(room, m);
    }
    this.#checkCaughtUp(room);
  }

  /** Counts and announces a message someone else sent. */
  #noteNew(room, m) {
    const live = m.seq > room.backfillTo;
    if (room.name !== this.active || document.hidden) {
      if (room.unread === 0) room.firstUnread = m.seq;
      room.unread += 1;
      this.#renderRoomList();
      this.#renderTitle();
    }
    if (room.name === this.active) {
      // Within a batch, whether the view was at the bottom is already known (no layout read).
      const below = this.scrollBatch ? !this.scrollBatch.stick : !this.#atBottom();
      if (below) {
        room.newBelow += 1;
        this.#renderJump();
      }
      if (live) this.#announce(`${m.from}: ${m.text}`);
    }
  }

  /** A line above the first message that arrived while the room was not in view. */
  #markNew(room, seq) {
    const marker = h('li', { class: 'new-marker', dataset: { key: String(seq - 0.25) } }, h('span', { text: 'New' }));
    this.#insert(room, marker);
    const box = this.$.messages.getBoundingClientRect();
    if (marker.getBoundingClientRect().top < box.top) {
      // The first new message is above the view: start reading there.
      marker.scrollIntoView({ block: 'start' });
      this.stuck = this.#atBottom();
    }
  }

  /** An own message arriving on the stream before its Sent: it replaces the pending copy. */
  #adoptPending(room, m) {
    const i = room.pending.findIndex(
      (p) => (p.state === 'sending' || p.state === 'unconfirmed') && p.text === m.text,
    );
    if (i < 0) return;
    const [p] = room.pending.splice(i, 1);
    p.done = true;
    p.li.remove();
  }

  #addMessage(room, m, { prepend = false } = {}) {
    const own = m.from === this.nick;
    const li = h(
      'li',
      { class: `msg${own ? ' own' : ''}`, dataset: { key: String(m.seq), seq: String(m.seq), from: m.from, ts: String(m.ts) } },
      h('div', { class: 'day-divider', 'aria-hidden': 'true' }),
      h('div', { class: 'avatar', 'aria-hidden': 'true', style: `--hue:${nickHue(m.from)}`, text: initials(m.from) }),
      h(
        'div',
        { class: 'bubble' },
        h(
          'div',
          { class: 'meta' },
          h('span', { class: 'from', style: `--hue:${nickHue(m.from)}`, text: own ? `${m.from} (you)` : m.from }),
          h('time', { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts), text: formatTime(m.ts) }),
        ),
        messageText(m.text),
      ),
    );
    room.messages.set(m.seq, li);
    this.#insert(room, li, { prepend });
  }

  /** Inserts an item by its key (seq; notices between; pending last) and fixes grouping around it. */
  #insert(room, li, { prepend = false } = {}) {
    const key = Number(li.dataset.key);
    const list = room.list;
    const mutate = () => {
      let at = list.lastElementChild;
      while (at && Number(at.dataset.key) > key) at = at.previousElementSibling;
      if (at) at.after(li);
      else list.prepend(li);
      this.#regroup(li);
      const next = li.nextElementSibling;
      if (next) this.#regroup(next);
    };
    if (room.name !== this.active) {
      mutate();
      return;
    }
    if (prepend && !this.scrollBatch) {
      // Older messages go above what the person is reading, which stays in place (at the
      // bottom, if that is where they were).
      const box = this.$.messages;
      const bottom = this.#atBottom();
      const before = box.scrollHeight;
      mutate();
      if (bottom) this.#scrollToBottom();
      else box.scrollTop += box.scrollHeight - before;
      return;
    }
    this.#keepBottom();
    mutate();
  }

  /** Before appending: if the view is at the bottom, keep it there once this task's changes are done. */
  #keepBottom() {
    if (this.scrollBatch) return;
    this.scrollBatch = { stick: this.#atBottom() };
    queueMicrotask(() => {
      if (this.scrollBatch?.stick) this.#scrollToBottom();
      this.scrollBatch = null;
    });
  }

  /** Groups a message with the one before it (same sender, same day, close in time). */
  #regroup(li) {
    if (!li.classList.contains('msg')) return;
    const prev = li.previousElementSibling;
    const ts = Number(li.dataset.ts);
    let prevMsg = prev;
    while (prevMsg && !prevMsg.classList.contains('msg')) prevMsg = prevMsg.previousElementSibling;
    const newDay = !prevMsg || dayKey(Number(prevMsg.dataset.ts)) !== dayKey(ts);
    const continued =
      !newDay &&
      prev?.classList.contains('msg') &&
      prev.dataset.from === li.dataset.from &&
      ts - Number(prev.dataset.ts) < GROUP_GAP_MS;
    li.classList.toggle('continued', Boolean(continued));
    li.classList.toggle('new-day', newDay);
    const divider = li.querySelector(':scope > .day-divider');
    if (divider) divider.textContent = newDay ? formatDay(ts) : '';
  }

  /** A line in the room's timeline that is not a message (joins, errors, gaps). */
  #notice(room, text, kind = 'info') {
    const li = h(
      'li',
      { class: `notice notice-${kind}`, dataset: { key: String(room.lastSeq + 0.5) }, role: kind === 'error' ? 'alert' : null },
      h('span', { text }),
    );
    this.#insert(room, li);
    return li;
  }

  /** Fetches a page of messages before `before` (exclusive), oldest first. */
  async #loadOlder(room, before) {
    if (room.loadingOlder || !this.conn?.isOpen) return;
    if (before === undefined) {
      const oldest = room.oldestSeq();
      if (oldest === null || oldest <= 1) {
        this.#setMore(room, false);
        return;
      }
      before = oldest;
    }
    room.loadingOlder = true;
    this.#renderTop(room);
    try {
      const page = await this.conn.request('History', { room: room.name, before, limit: HISTORY_PAGE });
      if (page.epoch === room.epoch || !room.epoch) {
        for (let i = page.messages.length - 1; i >= 0; i--) {
          const m = page.messages[i];
          if (!room.messages.has(m.seq)) this.#addMessage(room, m, { prepend: true });
        }
      }
      room.loadingOlder = false;
      this.#setMore(room, page.more);
    } catch (e) {
      room.loadingOlder = false;
      this.#renderTop(room);
      if (!e.lost) this.#toast(`Could not load older messages. ${explainError(e.code, e.message).title}`, 'error');
    }
  }

  #setMore(room, more) {
    room.more = more;
    this.#renderTop(room);
  }

  #renderTop(room) {
    const top = room.top;
    clear(top);
    if (room.loadingOlder) {
      top.append(h('span', { class: 'history-status', text: 'Loading older messages…' }));
    } else if (room.more) {
      top.append(
        h('button', {
          type: 'button',
          class: 'link-button',
          text: 'Show older messages',
          on: { click: () => this.#loadOlder(room) },
        }),
      );
    } else if (room.more === false) {
      top.append(
        h('div', { class: 'room-start' },
          h('div', { class: 'room-start-icon', 'aria-hidden': 'true' }, icon('hash')),
          h('p', { class: 'room-start-title', text: `This is the start of #${room.name}` }),
          h('p', { class: 'room-start-sub', text: 'Messages here are kept by the relay; everyone in the room sees them.' }),
        ),
      );
    }
  }

  // --- Sending -------------------------------------------------------------------------

  #submit() {
    const room = this.rooms.get(this.active);
    const input = this.$['composer-input'];
    const text = input.value;
    if (!room || text.trim() === '') return;
    // Too long goes to the relay, which is the authority on its limits and says so; other
    // problems (control characters) are caught here.
    const problem = validateText(text, Number.MAX_SAFE_INTEGER);
    if (problem) {
      this.#composerError(explainError(problem.code, problem.message));
      return;
    }
    input.value = '';
    room.draft = '';
    // Others stop showing "typing" when the message arrives: the next keystroke says so again.
    this.lastTyping.delete(room.name);
    this.#autosize();
    this.#updateCounter();
    this.#composerError(null);
    const p = { local: nextLocal++, text, state: 'queued', li: null, done: false };
    p.li = this.#pendingItem(room, p);
    room.pending.push(p);
    this.#insert(room, p.li);
    this.#scrollToBottom();
    if (room.joined) this.#sendPending(room, p);
    else this.#renderPending(room, p);
  }

  async #sendPending(room, p) {
    if (utf8Length(p.text) > MAX_FRAME_LEN - 1024) {
      // Too large even to frame: the relay would refuse the frame outright.
      this.#fail(room, p, { code: 12, message: `message is ${formatNumber(utf8Length(p.text))} bytes; the most is ${formatNumber(this.limits?.max_text_bytes ?? 0)}` });
      return;
    }
    p.state = 'sending';
    this.#renderPending(room, p);
    try {
      const sent = await this.conn.request('Send', { room: room.name, text: p.text });
      if (p.done) return;
      const i = room.pending.indexOf(p);
      if (i >= 0) room.pending.splice(i, 1);
      p.done = true;
      p.li.remove();
      if (!room.messages.has(sent.seq)) {
        this.#addMessage(room, { room: room.name, seq: sent.seq, epoch: sent.epoch, from: this.nick, ts: sent.ts, text: p.text });
      }
    } catch (e) {
      if (p.done) return;
      if (e.lost) {
        // It may or may not have been stored: the resumed room stream will tell.
        p.state = 'unconfirmed';
        this.#renderPending(room, p);
      } else {
        this.#fail(room, p, e);
      }
    }
  }

  #fail(room, p, e) {
    p.state = 'failed';
    p.error = explainError(e.code, e.message);
    this.#renderPending(room, p);
    if (room.name === this.active) this.#alert(`Message not sent. ${p.error.title}`);
  }

  /** After a rejoin's backfill: own messages the stream did not bring back were not stored. */
  #checkCaughtUp(room) {
    if (!room.joined || room.lastSeq < room.backfillTo) return;
    for (const p of room.pending) {
      if (p.state === 'unconfirmed') {
        p.state = 'failed';
        p.error = { title: 'The connection dropped before the relay stored this message.', detail: null };
        this.#renderPending(room, p);
      }
    }
  }

  #pendingItem(room, p) {
    return h(
      'li',
      { class: 'msg own pending', dataset: { key: 'Infinity', from: this.nick, ts: String(Date.now()) } },
      h('div', { class: 'day-divider', 'aria-hidden': 'true' }),
      h('div', { class: 'avatar', 'aria-hidden': 'true', text: initials(this.nick) }),
      h(
        'div',
        { class: 'bubble' },
        h('div', { class: 'meta' }, h('span', { class: 'from', text: `${this.nick} (you)` })),
        messageText(p.text),
      ),
      h('div', { class: 'send-state' }),
    );
  }

  #renderPending(room, p) {
    if (room.name === this.active) this.#keepBottom();
    const box = p.li.querySelector('.send-state');
    clear(box);
    p.li.classList.toggle('failed', p.state === 'failed');
    p.li.dataset.state = p.state;
    if (p.state === 'queued') {
      box.append(icon('clock'), h('span', { text: 'Waiting for the connection…' }));
    } else if (p.state === 'sending') {
      box.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: 'Sending…' }));
    } else if (p.state === 'unconfirmed') {
      box.append(icon('clock'), h('span', { text: 'Not confirmed yet. Reconnecting…' }));
    } else if (p.state === 'failed') {
      const msg = h('span', { class: 'send-error', role: 'alert' },
        icon('alert'),
        h('strong', { text: ' Not sent. ' }),
        p.error.title,
        p.error.detail ? h('span', { class: 'detail', text: ` ${p.error.detail}` }) : null,
      );
      // Sending the same text again only helps if the trouble was passing.
      const retry = !p.error.name || RETRYABLE.has(p.error.name);
      const actions = h('span', { class: 'send-actions' },
        retry ? h('button', { type: 'button', class: 'chip', on: { click: () => this.#retry(room, p) } }, icon('retry'), 'Retry') : null,
        h('button', { type: 'button', class: 'chip', on: { click: () => this.#edit(room, p) } }, icon('edit'), 'Edit'),
        h('button', { type: 'button', class: 'chip', on: { click: () => this.#discard(room, p) } }, icon('trash'), 'Discard'),
      );
      box.append(msg, actions);
    }
  }

  #retry(room, p) {
    p.state = 'queued';
    if (room.joined) this.#sendPending(room, p);
    else this.#renderPending(room, p);
  }

  #edit(room, p) {
    this.#discard(room, p);
    const input = this.$['composer-input'];
    input.value = p.text;
    this.#autosize();
    this.#updateCounter();
    input.focus();
  }

  #discard(room, p) {
    const i = room.pending.indexOf(p);
    if (i >= 0) room.pending.splice(i, 1);
    p.done = true;
    p.li.remove();
    this.$['composer-input'].focus();
  }

  #composerError(e) {
    const box = this.$['composer-error'];
    box.hidden = !e;
    box.textContent = e ? [e.title, e.detail].filter(Boolean).join(' ') : '';
  }

  // --- Presence and typing ---------------------------------------------------------------

  #onPresence({ room: name, nick, joined }) {
    const room = this.rooms.get(name);
    if (!room) return;
    const had = room.members.has(nick);
    if (joined) room.members.add(nick);
    else room.members.delete(nick);
    if (nick !== this.nick && had !== joined) this.#presenceNotice(room, nick, joined);
    if (!joined && room.typing.delete(nick) && name === this.active) this.#renderTyping();
    if (name === this.active) {
      this.#renderMembers();
      this.#renderHeader();
    }
  }

  /**
   * Joins and leaves in a row share one quiet line ("ada and bo joined · cy left"); someone
   * who left and came back within it (a reconnect) is not mentioned at all.
   */
  #presenceNotice(room, nick, joined) {
    let last = room.list.lastElementChild;
    while (last?.classList.contains('pending')) last = last.previousElementSibling;
    let li = last?.classList.contains('notice-presence') ? last : null;
    if (!li) {
      li = this.#notice(room, '', 'presence');
      presenceGroups.set(li, new Map());
    }
    const group = presenceGroups.get(li);
    const entry = group.get(nick) ?? { first: joined };
    entry.last = joined;
    group.set(nick, entry);
    const by = { joined: [], left: [], visited: [] };
    for (const [n, e] of group) {
      if (e.first && e.last) by.joined.push(n);
      else if (!e.first && !e.last) by.left.push(n);
      else if (e.first && !e.last) by.visited.push(n);
    }
    const parts = [];
    if (by.joined.length) parts.push(`${listNames(by.joined)} joined`);
    if (by.left.length) parts.push(`${listNames(by.left)} left`);
    if (by.visited.length) parts.push(`${listNames(by.visited)} dropped in`);
    li.hidden = parts.length === 0;
    li.firstElementChild.textContent = parts.join(' · ');
  }

  #onTyping({ room: name, nick }) {
    const room = this.rooms.get(name);
    if (!room || nick === this.nick) return;
    room.typing.set(nick, Date.now() + TYPING_SHOW_MS);
    if (name === this.active) this.#renderTyping();
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.#renderTyping(), TYPING_SHOW_MS + 50);
  }

  #renderTyping() {
    const room = this.rooms.get(this.active);
    const now = Date.now();
    let next = Infinity;
    const nicks = [];
    if (room) {
      for (const [nick, until] of room.typing) {
        if (until <= now) room.typing.delete(nick);
        else {
          nicks.push(nick);
          next = Math.min(next, until);
        }
      }
    }
    nicks.sort();
    const line = typingLine(nicks);
    const el = this.$.typing;
    el.textContent = '';
    if (line) el.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: line }));
    el.classList.toggle('active', Boolean(line));
    if (next !== Infinity) {
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.#renderTyping(), next - now + 50);
    }
  }

  #typed() {
    const room = this.rooms.get(this.active);
    if (!room?.joined || this.$['composer-input'].value.trim() === '') return;
    const now = Date.now();
    if (now - (this.lastTyping.get(room.name) ?? 0) < TYPING_SEND_MS) return;
    this.lastTyping.set(room.name, now);
    this.conn.sendTyping(room.name);
  }

  // --- Rendering -------------------------------------------------------------------------

  #renderRoomList() {
    const list = this.$['room-list'];
    clear(list);
    for (const room of this.rooms.values()) {
      const current = room.name === this.active;
      let state = '';
      if (room.joinError) state = 'error';
      else if (room.joining || (!room.joined && this.conn?.state !== 'open')) state = 'joining';
      const label = [`#${room.name}`];
      if (room.unread > 0) label.push(`${room.unread} unread`);
      if (state === 'error') label.push('could not join');
      const badge = room.unread > 0
        ? h('span', { class: 'badge', 'aria-hidden': 'true', text: room.unread > 99 ? '99+' : String(room.unread) })
        : null;
      list.append(
        h('li', {},
          h('button', {
            type: 'button',
            class: `room-link${current ? ' current' : ''}${room.unread ? ' has-unread' : ''}`,
            'aria-current': current ? 'page' : null,
            'aria-label': label.join(', '),
            dataset: { room: room.name, state },
            on: { click: () => { this.#show(room.name); this.#renderRoomList(); this.#closeDrawers(); this.$['composer-input'].focus(); } },
          },
          h('span', { class: 'room-hash', 'aria-hidden': 'true', text: '#' }),
          h('span', { class: 'room-name', text: room.name }),
          badge),
        ),
      );
    }
    if (this.rooms.size === 0) {
      list.append(h('li', { class: 'room-list-empty', text: 'No rooms yet.' }));
    }
    this.#renderTitle();
  }

  #renderHeader() {
    const room = this.rooms.get(this.active);
    if (!room) return;
    this.$['room-title'].textContent = room.name;
    const n = room.members.size;
    let topic;
    if (room.joinError) topic = 'Could not join';
    else if (room.joined) topic = `${n} ${n === 1 ? 'person' : 'people'} here`;
    else topic = this.conn?.isOpen ? 'Joining…' : 'Waiting for the connection…';
    this.$['room-topic'].textContent = topic;
    this.$['members-count'].textContent = room.joined ? String(n) : '–';
    this.$['members-toggle'].setAttribute('aria-label', room.joined ? `Members: ${n} in #${room.name}` : 'Members');
    this.$['leave-button'].setAttribute('aria-label', `Leave #${room.name}`);
  }

  #renderMembers() {
    const room = this.rooms.get(this.active);
    const list = this.$['member-list'];
    clear(list);
    if (!room) return;
    const names = [...room.members].sort((a, b) => (a === this.nick ? -1 : b === this.nick ? 1 : a.localeCompare(b)));
    for (const nick of names) {
      list.append(
        h('li', { class: 'member' },
          h('span', { class: 'avatar small', 'aria-hidden': 'true', style: `--hue:${nickHue(nick)}`, text: initials(nick) }),
          h('span', { class: 'member-name', text: nick }),
          nick === this.nick ? h('span', { class: 'you', text: 'you' }) : null,
        ),
      );
    }
    if (names.length === 0) list.append(h('li', { class: 'member muted', text: room.joined ? 'Nobody here yet.' : 'Joining…' }));
  }

  #renderNick() {
    this.$['nick-label'].textContent = this.nick || 'Choose a nick';
    this.$['nick-avatar'].textContent = this.nick ? initials(this.nick) : '?';
    this.$['nick-avatar'].style.setProperty('--hue', String(nickHue(this.nick || '?')));
    this.$['nick-button'].setAttribute('aria-label', this.nick ? `Your nick: ${this.nick}. Change it` : 'Choose a nick');
  }

  #renderTitle() {
    let unread = 0;
    for (const r of this.rooms.values()) unread += r.unread;
    const where = this.active ? `#${this.active} · ChitChat` : 'ChitChat';
    document.title = unread > 0 ? `(${unread}) ${where}` : where;
  }

  #renderJump() {
    const room = this.rooms.get(this.active);
    const n = room?.newBelow ?? 0;
    this.$.jump.hidden = n === 0;
    this.$.jump.querySelector('span').textContent = n === 1 ? '1 new message' : `${n} new messages`;
  }

  #updateCounter() {
    const counter = this.$.counter;
    const max = this.limits?.max_text_bytes;
    const bytes = utf8Length(this.$['composer-input'].value);
    if (!max || bytes < max * COUNTER_FROM) {
      counter.hidden = true;
      counter.classList.remove('over');
      return;
    }
    counter.hidden = false;
    const over = bytes > max;
    counter.classList.toggle('over', over);
    counter.textContent = over
      ? `${formatNumber(bytes - max)} bytes too long`
      : `${formatNumber(max - bytes)} bytes left`;
  }

  #autosize() {
    const input = this.$['composer-input'];
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }

  // --- Scrolling -------------------------------------------------------------------------

  #atBottom() {
    const box = this.$.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  #scrollToBottom() {
    const box = this.$.messages;
    box.scrollTop = box.scrollHeight;
    this.stuck = true;
    const room = this.rooms.get(this.active);
    if (room && room.newBelow) {
      room.newBelow = 0;
      this.#renderJump();
    }
  }

  #onScroll() {
    this.stuck = this.#atBottom();
    const room = this.rooms.get(this.active);
    if (!room) return;
    if (this.#atBottom() && room.newBelow) {
      room.newBelow = 0;
      this.#renderJump();
    }
    if (this.$.messages.scrollTop < LOAD_OLDER_PX && room.more && !room.loadingOlder) this.#loadOlder(room);
  }

  // --- Announcements and toasts ----------------------------------------------------------

  #announce(text) {
    const el = this.$.announcer;
    el.textContent = '';
    // A fresh text node makes screen readers announce even a repeated line.
    setTimeout(() => (el.textContent = text), 30);
  }

  #alert(text) {
    this.$.alerts.textContent = text;
  }

  #toast(text, kind = 'info') {
    const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      kind === 'error' ? icon('alert') : null,
      h('span', { text }),
      h('button', { type: 'button', class: 'icon-button small', 'aria-label': 'Dismiss', on: { click: () => t.remove() } }, icon('close')),
    );
    this.$.toasts.append(t);
    setTimeout(() => t.remove(), 8000);
  }

  // --- Nick dialog ---------------------------------------------------------------------

  #openNickDialog({ first = false, error = null } = {}) {
    const dialog = this.$['nick-dialog'];
    dialog.dataset.first = first ? 'true' : 'false';
    this.$['nick-input'].value = this.nick;
    this.$['nick-cancel'].hidden = first || !this.nick;
    this.#fieldError(this.$['nick-input'], this.$['nick-error'], error);
    if (!dialog.open) dialog.showModal();
    this.$['nick-input'].focus();
    this.$['nick-input'].select();
  }

  #saveNick() {
    const nick = this.$['nick-input'].value.trim();
    const problem = validateNick(nick);
    if (problem) {
      this.#fieldError(this.$['nick-input'], this.$['nick-error'], nickProblemText(problem));
      this.$['nick-input'].focus();
      return;
    }
    const first = this.$['nick-dialog'].dataset.first === 'true';
    this.$['nick-dialog'].close();
    const changed = nick !== this.nick;
    this.nick = nick;
    this.store.nick = nick;
    this.#renderNick();
    if (first && this.rooms.size === 0) this.#openRoom(FIRST_ROOM);
    if (changed || !this.conn || this.conn.state === 'stopped') this.#connect();
    this.$['composer-input'].focus();
  }

  #fieldError(input, box, text) {
    box.textContent = text ?? '';
    box.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // --- Wiring --------------------------------------------------------------------------

  #bindUi() {
    const $ = this.$;
    const input = $['composer-input'];

    $.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
      input.focus();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.#submit();
      }
    });
    input.addEventListener('input', () => {
      this.#autosize();
      this.#updateCounter();
      this.#composerError(null);
      this.#typed();
    });

    const joinWith = (form, field, errorBox) => {
      field.addEventListener('input', () => {
        const v = field.value.trim().replace(/^#/, '');
        const problem = v === '' ? null : validateRoom(v);
        this.#fieldError(field, errorBox, problem ? roomProblemText(problem) : null);
      });
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const name = field.value.trim().replace(/^#/, '');
        const problem = validateRoom(name);
        if (problem) {
          this.#fieldError(field, errorBox, roomProblemText(problem));
          field.focus();
          return;
        }
        if (!this.rooms.has(name) && this.limits && this.rooms.size >= this.limits.max_rooms) {
          this.#fieldError(field, errorBox, `You can be in at most ${this.limits.max_rooms} rooms. Leave one first.`);
          return;
        }
        field.value = '';
        this.#fieldError(field, errorBox, null);
        this.#openRoom(name);
        this.#closeDrawers();
        input.focus();
      });
    };
    joinWith($['join-form'], $['join-input'], $['join-error']);
    joinWith($['empty-form'], $['empty-input'], $['empty-error']);
    for (const b of document.querySelectorAll('[data-suggest]')) {
      b.addEventListener('click', () => {
        this.#openRoom(b.dataset.suggest);
        input.focus();
      });
    }

    $['leave-button'].addEventListener('click', () => {
      const room = this.rooms.get(this.active);
      if (room) this.#leave(room);
    });
    $['banner-action'].addEventListener('click', () => {
      if (this.nickProblem) this.#openNickDialog({ error: this.fatalText });
      else if (this.conn?.state === 'stopped') this.#connect();
      else this.conn?.reconnectNow();
    });
    $.jump.addEventListener('click', () => {
      this.#scrollToBottom();
      input.focus();
    });
    $.messages.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    // A view at the bottom stays there when its size changes (a phone's keyboard opening,
    // a rotation, the composer growing).
    this.stuck = true;
    new ResizeObserver(() => {
      if (this.stuck) this.#scrollToBottom();
    }).observe($.messages);

    $['nick-button'].addEventListener('click', () => this.#openNickDialog());
    $['nick-form'].addEventListener('submit', (e) => {
      e.preventDefault();
      this.#saveNick();
    });
    $['nick-input'].addEventListener('input', () => {
      const v = $['nick-input'].value.trim();
      const problem = v === '' ? null : validateNick(v);
      this.#fieldError($['nick-input'], $['nick-error'], problem ? nickProblemText(problem) : null);
    });
    $['nick-cancel'].addEventListener('click', () => $['nick-dialog'].close());
    $['nick-dialog'].addEventListener('cancel', (e) => {
      // The first time there is no nick to fall back on.
      if ($['nick-dialog'].dataset.first === 'true' || !this.nick) e.preventDefault();
    });

    $['rooms-toggle'].addEventListener('click', () => this.#toggleDrawer('sidebar'));
    $['sidebar-close'].addEventListener('click', () => this.#closeDrawers());
    $['members-toggle'].addEventListener('click', () => {
      if (WIDE_MEMBERS.matches) {
        const hidden = $.app.classList.toggle('members-hidden');
        $['members-toggle'].setAttribute('aria-expanded', String(!hidden));
      } else {
        this.#toggleDrawer('members');
      }
    });
    $['members-close'].addEventListener('click', () => this.#closeDrawers());
    $.scrim.addEventListener('click', () => this.#closeDrawers());
    WIDE_MEMBERS.addEventListener('change', () => this.#syncMembersToggle());
    // Drawers exist only on narrow layouts: a layout change closes any that is open.
    for (const query of ['(max-width: 759px)', '(max-width: 1099px)']) {
      window.matchMedia(query).addEventListener('change', () => this.#closeDrawers({ focus: false }));
    }
    this.#syncMembersToggle();

    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && $.app.dataset.drawer) {
        this.#closeDrawers();
        return;
      }
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        const names = [...this.rooms.keys()];
        if (names.length < 2) return;
        e.preventDefault();
        const i = names.indexOf(this.active);
        const next = names[(i + (e.key === 'ArrowDown' ? 1 : names.length - 1)) % names.length];
        this.#show(next);
        this.#renderRoomList();
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        const room = this.rooms.get(this.active);
        if (room) room.unread = 0;
        this.#renderRoomList();
      }
    });
  }

  #syncMembersToggle() {
    const wide = WIDE_MEMBERS.matches;
    const shown = wide ? !this.$.app.classList.contains('members-hidden') : this.$.app.dataset.drawer === 'members';
    this.$['members-toggle'].setAttribute('aria-expanded', String(shown));
  }

  #toggleDrawer(which) {
    const app = this.$.app;
    if (app.dataset.drawer === which) {
      this.#closeDrawers();
      return;
    }
    app.dataset.drawer = which;
    this.$.scrim.hidden = false;
    // While a drawer is open, what is behind it is out of reach of Tab and screen readers.
    for (const el of this.#behindDrawer(which)) el.inert = true;
    this.$['rooms-toggle'].setAttribute('aria-expanded', String(which === 'sidebar'));
    this.#syncMembersToggle();
    const panel = which === 'sidebar' ? this.$.sidebar : this.$.members;
    panel.querySelector('button, input')?.focus();
  }

  #behindDrawer(which) {
    const topbar = this.$.app.querySelector('.topbar');
    return [topbar, this.$.main, which === 'sidebar' ? this.$.members : this.$.sidebar];
  }

  #closeDrawers({ focus = true } = {}) {
    const app = this.$.app;
    const was = app.dataset.drawer;
    if (!was) return;
    delete app.dataset.drawer;
    this.$.scrim.hidden = true;
    for (const el of this.#behindDrawer(was)) el.inert = false;
    this.$['rooms-toggle'].setAttribute('aria-expanded', 'false');
    this.#syncMembersToggle();
    if (focus) (was === 'sidebar' ? this.$['rooms-toggle'] : this.$['members-toggle']).focus();
  }
}

/** Refusals that may not recur: the same message can be sent again. */
const RETRYABLE = new Set(['RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL', 'NOT_JOINED']);

/** Texts longer than this (characters or lines) are shown folded, with "Show more". */
const FOLD_CHARS = 700;
const FOLD_LINES = 14;

/** A message's text, folded when long. */
function messageText(text) {
  const box = h('div', { class: 'text' }, textNodes(text));
  if (text.length <= FOLD_CHARS && text.split('\n').length <= FOLD_LINES) return box;
  box.classList.add('folded');
  const toggle = h('button', {
    type: 'button',
    class: 'fold-toggle',
    'aria-expanded': 'false',
    text: 'Show more',
    on: {
      click: () => {
        const folded = box.classList.toggle('folded');
        toggle.textContent = folded ? 'Show more' : 'Show less';
        toggle.setAttribute('aria-expanded', String(!folded));
      },
    },
  });
  return [box, toggle];
}

/** Presence notices -> nick -> {first, last}: whether the first and last event was a join. */
const presenceGroups = new WeakMap();

/** "ada", "ada and bo", "ada, bo and 3 others" */
function listNames(names) {
  if (names.length === 1) return names[0];
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]}`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others`;
}

/** A validation message from codec.js as a sentence, with a space called a space. */
function problemText(problem) {
  const m = problem.message.replace("contain ' '", 'contain spaces');
  return m[0].toUpperCase() + m.slice(1) + '.';
}

const nickProblemText = problemText;
const roomProblemText = problemText;

/** The deployment's config: inlined by the relay, or fetched when the page is served otherwise. */
async function loadConfig() {
  const inline = document.getElementById('chitchat-config');
  if (inline) {
    try {
      return JSON.parse(inline.textContent);
    } catch {
      // Fall through to the fetch.
    }
  }
  const res = await fetch('/config.json', { cache: 'no-store' });
  return res.json();
}

async function main() {
  const root = document.getElementById('app');
  if (typeof WebTransport === 'undefined') {
    root.dataset.conn = 'unsupported';
    const banner = document.getElementById('banner');
    banner.hidden = false;
    document.getElementById('banner-text').textContent =
      window.isSecureContext
        ? 'This browser cannot use WebTransport, which ChitChat needs. Try a current Chrome, Edge, Firefox or Safari.'
        : 'ChitChat needs a secure page (https, or http://localhost) to connect.';
  }
  const config = await loadConfig();
  const app = new App(config);
  app.start();
  root.dataset.ready = 'true';
}

main();
