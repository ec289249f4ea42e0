// The timeline of the room in view: each room's message list (messages, notices, pending
// sends, the history top) kept in timeline order, grouping by sender and day, the "New"
// marker, typing, and scrolling that stays at the bottom while the person is there. What log
// entries change in a message (edits, deletes, reactions, reply quotes) is drawn by
// entries.js.
//
// Every piece of user text reaches the DOM through textContent (dom.js, format.js).

import { clear, h, icon } from '../dom.js';
import { dayKey, formatDay, formatFull, formatTime, initials, jumpLabel, nickHue, typingLine } from '../format.js';
import { placeAfter, retryable, timelineKey } from '../rooms.js';
import { EntryParts, messageText } from './entries.js';

/** Consecutive messages from one sender within this gap are shown as one group. */
const GROUP_GAP_MS = 5 * 60 * 1000;

/** Within this many pixels of the bottom counts as "at the bottom": new messages keep it there. */
const NEAR_BOTTOM_PX = 80;

/** Scrolled this close to the top, the next older page is fetched. */
const LOAD_OLDER_PX = 240;

/** Presence notices -> nick -> {first, last}: whether the first and last event was a join. */
const presenceGroups = new WeakMap();

/**
 * The message pane. `app` gives the rooms, the room in view, the nick, and the actions a
 * click starts (`loadOlder`, `retry`, `edit`, `discard`).
 */
export class MessagesView {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.box = app.$.messages;
    this.parts = new EntryParts(app);
    /** Room -> {list, top, items: seq -> li}. */
    this.timelines = new WeakMap();
    /** Pending send -> its li. */
    this.pendingItems = new WeakMap();
    this.scrollBatch = null;
    this.typingTimer = null;
    /**
     * Whether the person is at the newest message: set by scrolling, not by layout, so a
     * view at the bottom stays there when anything changes size (the history top filling
     * in, a phone's keyboard opening, a rotation, the composer growing).
     */
    this.stuck = true;
    /** The scroll position last seen, to tell the person scrolling up from the content growing. */
    this.lastTop = 0;
    this.resized = new ResizeObserver(() => {
      if (this.stuck) this.scrollToBottom();
    });
  }

  bind() {
    this.$.jump.addEventListener('click', () => {
      this.scrollToBottom();
      this.$['composer-input'].focus();
    });
    this.box.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    this.resized.observe(this.box);
  }

  #active(room) {
    return room.name === this.app.active;
  }

  #timeline(room) {
    let t = this.timelines.get(room);
    if (!t) {
      const top = h('li', { class: 'history-top', dataset: { key: String(timelineKey.top) } });
      const list = h('ol', { class: 'message-list', 'aria-label': `Messages in #${room.name}` }, top);
      t = { list, top, items: new Map() };
      this.timelines.set(room, t);
      this.resized.observe(list);
    }
    return t;
  }

  /** Puts `room` (or nothing) in the pane. */
  show(room) {
    clear(this.box);
    if (!room) return;
    const { list } = this.#timeline(room);
    list.querySelector(':scope > .new-marker')?.remove();
    room.newBelow = 0;
    this.box.append(list);
  }

  /** Where the view goes once the composer is sized: where it was, or the bottom. */
  restoreScroll(room, firstUnread) {
    if (room.scrollTop === null) {
      this.scrollToBottom();
    } else {
      this.box.scrollTop = room.scrollTop;
      this.#unstick();
    }
    if (firstUnread !== null) this.#markNew(room, firstUnread);
  }

  /** What to keep of the room going out of view. */
  leaveScroll(room) {
    room.scrollTop = this.stuck ? null : this.box.scrollTop;
  }

  /** Shows message `m` (its latest state) in its place. */
  addMessage(room, m, { prepend = false } = {}) {
    const own = m.from === this.app.nick;
    const li = h(
      'li',
      { class: `msg${own ? ' own' : ''}`, dataset: { key: String(timelineKey.message(m.seq)), seq: String(m.seq), from: m.from, ts: String(m.ts) } },
      h('div', { class: 'day-divider', 'aria-hidden': 'true' }),
      h('div', { class: 'avatar', 'aria-hidden': 'true', style: `--hue:${nickHue(m.from)}`, text: initials(m.from) }),
      h(
        'div',
        { class: 'bubble' },
        h(
          'div',
          { class: 'meta' },
          h('span', { class: 'from', dir: 'auto', style: `--hue:${nickHue(m.from)}`, text: own ? `${m.from} (you)` : m.from }),
          h('time', { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts), text: formatTime(m.ts) }),
        ),
      ),
    );
    this.parts.fill(li, room, m);
    this.#timeline(room).items.set(m.seq, li);
    this.#insert(room, li, { prepend });
    // Replies shown before it (it came with an older page) quote it now.
    this.#refreshQuotes(room, m);
  }

  #refreshQuotes(room, m) {
    const { items } = this.#timeline(room);
    for (const seq of room.repliesTo(m.seq)) {
      const reply = items.get(seq);
      if (reply) this.parts.refreshQuote(reply, room, room.shown.get(seq));
    }
  }

  /**
   * Message `m` changed (edited, deleted, reacted to; null: nothing shown changed): redrawn
   * where it is, with the quotes of the replies to it, and the composer told (an edit or a
   * reply of it in progress).
   */
  update(room, m) {
    if (!m) return;
    const li = this.#timeline(room).items.get(m.seq);
    if (li) {
      if (this.#active(room)) this.#keepBottom();
      this.parts.fill(li, room, m);
    }
    this.#refreshQuotes(room, m);
    this.app.composer.changed(room, m);
  }

  /** Scrolls to message `seq` of the room in view and highlights it (a reply's quote led here). */
  reveal(room, seq) {
    const li = this.#timeline(room).items.get(seq);
    if (!li || !this.#active(room)) return;
    li.scrollIntoView({ block: 'center' });
    if (!this.atBottom()) this.#unstick();
    this.parts.highlight(li);
  }

  /** The relay lost the room's history: every message shown goes. */
  forget(room) {
    const { items } = this.#timeline(room);
    for (const li of items.values()) li.remove();
    items.clear();
  }

  /** Inserts an item by its key (timelineKey) and fixes grouping around it. */
  #insert(room, li, { prepend = false } = {}) {
    const key = Number(li.dataset.key);
    const { list } = this.#timeline(room);
    const mutate = () => {
      const at = placeAfter(list.lastElementChild, key, (el) => Number(el.dataset.key), (el) => el.previousElementSibling);
      if (at) at.after(li);
      else list.prepend(li);
      regroup(li);
      const next = li.nextElementSibling;
      if (next) regroup(next);
    };
    if (!this.#active(room)) {
      mutate();
      return;
    }
    if (prepend && !this.scrollBatch) {
      // Older messages go above what the person is reading, which stays in place (at the
      // bottom, if that is where they were).
      this.#keepPlace(mutate);
      return;
    }
    this.#keepBottom();
    mutate();
  }

  /**
   * Runs `mutate`, which changes what is above the view: the person stays where they were
   * reading (at the bottom, if that is where they were).
   */
  #keepPlace(mutate) {
    const box = this.box;
    const before = box.scrollHeight;
    mutate();
    if (this.stuck) this.scrollToBottom();
    else {
      box.scrollTop += box.scrollHeight - before;
      this.lastTop = box.scrollTop;
    }
  }

  /** Before appending: if the view is at the bottom, keep it there once this task's changes are done. */
  #keepBottom() {
    if (this.scrollBatch) return;
    this.scrollBatch = { stick: this.stuck };
    queueMicrotask(() => {
      if (this.scrollBatch?.stick) this.scrollToBottom();
      this.scrollBatch = null;
    });
  }

  /** Whether a message arriving now lands below the view (within a batch, without a layout read). */
  below() {
    return this.scrollBatch ? !this.scrollBatch.stick : !this.stuck;
  }

  /**
   * A line in the room's timeline that is not a message (joins, errors, gaps), after the seq
   * `after` (the last seen).
   */
  notice(room, text, kind = 'info', after = room.lastSeq) {
    const li = h(
      'li',
      { class: `notice notice-${kind}`, dataset: { key: String(timelineKey.notice(after)) }, role: kind === 'error' ? 'alert' : null },
      h('span', { text }),
    );
    this.#insert(room, li);
    return li;
  }

  /**
   * Joins and leaves in a row share one quiet line ("ada and bo joined · cy left"); someone
   * who left and came back within it (a reconnect) is not mentioned at all.
   */
  presenceNotice(room, nick, joined) {
    let last = this.#timeline(room).list.lastElementChild;
    while (last?.classList.contains('pending')) last = last.previousElementSibling;
    let li = last?.classList.contains('notice-presence') ? last : null;
    if (!li) {
      li = this.notice(room, '', 'presence');
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

  /** A line above the first message that arrived while the room was not in view. */
  #markNew(room, seq) {
    const marker = h('li', { class: 'new-marker', dataset: { key: String(timelineKey.marker(seq)) } }, h('span', { text: 'New' }));
    this.#insert(room, marker);
    const box = this.box.getBoundingClientRect();
    if (marker.getBoundingClientRect().top < box.top) {
      // The first new message is above the view: start reading there.
      marker.scrollIntoView({ block: 'start' });
      if (!this.atBottom()) this.#unstick();
    }
  }

  /** The top of the list: loading, a button for older messages, or the start of the room. */
  renderTop(room) {
    if (this.#active(room)) this.#keepPlace(() => this.#fillTop(room));
    else this.#fillTop(room);
  }

  #fillTop(room) {
    const { top } = this.#timeline(room);
    clear(top);
    if (room.loadingOlder) {
      top.append(h('span', { class: 'history-status', text: 'Loading older messages…' }));
    } else if (room.more) {
      top.append(
        h('button', {
          type: 'button',
          class: 'link-button',
          text: 'Show older messages',
          on: { click: () => this.app.loadOlder(room) },
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

  // --- Pending sends -----------------------------------------------------------------------

  /** A pending send, shown last in its room with its state. */
  addPending(room, p) {
    const nick = this.app.nick;
    const li = h(
      'li',
      { class: 'msg own pending', dataset: { key: String(timelineKey.pending), from: nick, ts: String(Date.now()) } },
      h('div', { class: 'day-divider', 'aria-hidden': 'true' }),
      h('div', { class: 'avatar', 'aria-hidden': 'true', text: initials(nick) }),
      h(
        'div',
        { class: 'bubble' },
        this.parts.quote(room, { reply_to: p.replyTo, deleted: false }),
        h('div', { class: 'meta' }, h('span', { class: 'from', text: `${nick} (you)` })),
        messageText(p.text),
      ),
      h('div', { class: 'send-state' }),
    );
    this.pendingItems.set(p, li);
    this.#insert(room, li);
  }

  /** A settled send leaves the list. */
  removePending(p) {
    this.pendingItems.get(p)?.remove();
  }

  renderPending(room, p) {
    if (this.#active(room)) this.#keepBottom();
    const li = this.pendingItems.get(p);
    const box = li.querySelector('.send-state');
    clear(box);
    delete box.dataset.tries;
    li.classList.toggle('failed', p.state === 'failed');
    li.dataset.state = p.state;
    if (p.state === 'queued') {
      box.append(icon('clock'), h('span', { text: 'Waiting for the connection…' }));
    } else if (p.state === 'sending') {
      box.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { text: 'Sending…' }));
    } else if (p.state === 'unconfirmed') {
      box.append(icon('clock'), h('span', { text: 'Not confirmed yet. Reconnecting…' }));
    } else if (p.state === 'retrying') {
      // The relay's store refused it for now: tried again by itself until stored or discarded.
      box.dataset.tries = String(p.tries);
      box.append(
        h('span', { class: 'send-note' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }),
          ' Not stored yet: the relay cannot store messages right now. Sending again by itself…'),
        h('span', { class: 'send-actions' }, this.#chip(room, p, 'edit', 'Edit'), this.#chip(room, p, 'trash', 'Discard')),
      );
    } else if (p.state === 'failed') {
      const msg = h('span', { class: 'send-error', role: 'alert' },
        icon('alert'),
        h('strong', { text: ' Not sent. ' }),
        p.error.title,
        p.error.detail ? h('span', { class: 'detail', text: ` ${p.error.detail}` }) : null,
      );
      const actions = h('span', { class: 'send-actions' },
        retryable(p) ? this.#chip(room, p, 'retry', 'Retry') : null,
        this.#chip(room, p, 'edit', 'Edit'),
        this.#chip(room, p, 'trash', 'Discard'),
      );
      box.append(msg, actions);
    }
  }

  /** A button calling the app's action of its icon's name (retry, edit, discard: trash) on send `p`. */
  #chip(room, p, name, label) {
    const action = name === 'trash' ? 'discard' : name;
    return h('button', { type: 'button', class: 'chip', on: { click: () => this.app[action](room, p) } }, icon(name), label);
  }

  // --- Typing --------------------------------------------------------------------------------

  /** The typing line of the room in view; redraws itself when the next indicator expires. */
  renderTyping() {
    const room = this.app.rooms.get(this.app.active);
    const now = Date.now();
    const { nicks, next } = room ? room.typingAt(now) : { nicks: [], next: Infinity };
    const line = typingLine(nicks);
    const el = this.$.typing;
    el.textContent = '';
    if (line) el.append(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', { text: line }));
    el.classList.toggle('active', Boolean(line));
    if (next !== Infinity) this.redrawTypingIn(next - now + 50);
  }

  /** Redraws the typing line after `ms` (one timer for the pane). */
  redrawTypingIn(ms) {
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.renderTyping(), ms);
  }

  // --- Scrolling -----------------------------------------------------------------------------

  atBottom() {
    const box = this.box;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    const box = this.box;
    box.scrollTop = box.scrollHeight;
    this.lastTop = box.scrollTop;
    this.#stick();
  }

  /** The person is at the newest message: nothing new below. */
  #stick() {
    this.stuck = true;
    const room = this.app.rooms.get(this.app.active);
    if (room) room.newBelow = 0;
    this.renderJump();
  }

  /** The person is reading above the newest message. */
  #unstick() {
    this.lastTop = this.box.scrollTop;
    this.stuck = false;
    this.renderJump();
  }

  #onScroll() {
    const top = this.box.scrollTop;
    if (this.atBottom()) {
      if (!this.stuck) this.#stick();
      this.lastTop = top;
    } else if (top < this.lastTop - 1) {
      // Scrolled up. Content growing below or above the view, with the scroll position
      // unchanged, is not the person leaving the bottom.
      this.#unstick();
    } else {
      this.lastTop = top;
    }
    const room = this.app.rooms.get(this.app.active);
    if (room && top < LOAD_OLDER_PX && room.more && !room.loadingOlder) this.app.loadOlder(room);
  }

  /**
   * The way back to the newest message, under a view scrolled up: "Jump to newest", or
   * "N new messages" when some arrived below.
   */
  renderJump() {
    const room = this.app.rooms.get(this.app.active);
    const n = room?.newBelow ?? 0;
    this.$.jump.hidden = !room || this.stuck;
    this.$.jump.querySelector('span').textContent = jumpLabel(n);
  }
}

/** Groups a message with the one before it (same sender, same day, close in time). */
function regroup(li) {
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

/** "ada", "ada and bo", "ada, bo and 3 others" */
function listNames(names) {
  if (names.length === 1) return names[0];
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]}`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others`;
}
