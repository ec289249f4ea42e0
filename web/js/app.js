// The chat page's start-up and wiring: loads the deployment's configuration, opens the
// connection (connection.js), and turns what it reports into the room model (rooms.js) and
// the views (views/), and what the person does into requests. store.js remembers the nick,
// the rooms and where each stopped, so a reloaded page resumes every room from there.
//
// Every piece of user text reaches the DOM through textContent (dom.js, format.js).

import { ErrorCode, MAX_FRAME_LEN, dmMembers, utf8Length, validateNick } from './codec.js';
import { Auth } from './auth.js';
import { Connection } from './connection.js';
import { explainError, formatNumber, mentions } from './format.js';
import { MessageActions } from './actions.js';
import { Room, STORE_REFUSALS, isText, sendRetryDelay } from './rooms.js';
import { ReadMarkers, applyMarker, markSeen } from './markers.js';
import { applyRename, canRename, renameFromDialog } from './rename.js';
import { TopicDialog, applyTopic } from './topic.js';
import { Store } from './store.js';
import { TransportMemory, applyTransportSetting } from './transport.js';
import { ComposerView } from './views/composer.js';
import { DeleteDialog, NickDialog } from './views/dialogs.js';
import { IdentityView, guestSecret } from './views/identity.js';
import { SignInView } from './views/signin.js';
import { MessagesView } from './views/messages.js';
import { Notifier } from './views/notify.js';
import { BrowseView } from './views/browse.js';
import { SidebarView } from './views/sidebar.js';
import { StatusView } from './views/status.js';

/** Messages per History request: a screenful and then some. */
const HISTORY_PAGE = 50;

/** Show "X is typing" this long after the last signal (signals may be lost; there is no "stopped"). */
const TYPING_SHOW_MS = 4_000;

/**
 * Join refusals that pass by themselves (the relay's message store is unreachable, a rate
 * limit, a failure on the relay): the page tries again with backoff and never gives the
 * room up for them.
 */
const JOIN_RETRY_CODES = new Set([ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL]);

/** Waits between join retries: quick at first (a paused store), doubling up to the cap. */
const JOIN_RETRY_FIRST_MS = 250;
const JOIN_RETRY_MAX_MS = 4_000;

/** The room a new person starts in. */
const FIRST_ROOM = 'lobby';

/** Bytes a Send frame needs besides its text: a text closer than this to MAX_FRAME_LEN cannot be framed. */
const FRAME_HEADROOM = 1024;

/** The page's elements by id. */
const ELEMENT_IDS = [
  'app', 'rooms-toggle', 'conn-status', 'conn-text', 'nick-button', 'nick-label', 'nick-avatar',
  'sidebar', 'room-list', 'join-form', 'join-input', 'join-error', 'main', 'room-title',
  'room-topic', 'members-toggle', 'members-count', 'leave-button', 'banner', 'banner-text',
  'banner-action', 'messages', 'jump', 'typing', 'composer', 'composer-input', 'counter',
  'send-button', 'composer-error', 'members', 'member-list', 'members-close', 'scrim',
  'announcer', 'alerts', 'nick-dialog', 'nick-form', 'nick-input', 'nick-error',
  'nick-cancel', 'empty', 'empty-form', 'empty-input', 'empty-error', 'room-view',
  'toasts', 'sidebar-close', 'rooms-unread', 'notify-button', 'browse-button', 'browse-dialog',
  'browse-close', 'browse-search', 'browse-status', 'browse-list', 'browse-more', 'create-form',
  'create-name', 'create-topic', 'create-error', 'composer-context', 'composer-context-text',
  'composer-context-cancel', 'delete-dialog', 'delete-form', 'delete-preview', 'delete-cancel',
  'room-topic-text', 'room-people', 'topic-button', 'topic-dialog', 'topic-form', 'topic-title',
  'topic-input', 'topic-error', 'topic-cancel',
];

class App {
  constructor(config) {
    this.config = config;
    this.store = new Store();
    this.nick = this.store.nick;
    /** name -> Room, in the order shown. */
    this.rooms = new Map();
    /** The name of the room in view, or null. */
    this.active = null;
    this.limits = null;
    this.conn = null;
    /** Room name -> {count, timer} while its join is being retried. */
    this.joinRetries = new Map();
    /** Read markers shared with this person's other devices (version 3). */
    this.markers = new ReadMarkers({ send: (room, seq) => this.conn.request('MarkRead', { room, seq }) });
    this.$ = Object.fromEntries(ELEMENT_IDS.map((id) => [id, document.getElementById(id)]));
    this.status = new StatusView(this);
    this.messages = new MessagesView(this);
    this.composer = new ComposerView(this);
    this.sidebar = new SidebarView(this);
    this.notifier = new Notifier(this);
    this.browse = new BrowseView(this);
    this.nickDialog = new NickDialog(this);
    this.deleteDialog = new DeleteDialog(this);
    this.topicDialog = new TopicDialog(this);
    this.actions = new MessageActions(this);
    this.identity = new IdentityView(this);
    // Token mode: the nick is the token's (Welcome.nick), so no nick dialog first.
    this.auth = new Auth(config.auth);
    this.signIn = new SignInView(this.auth, () => this.#connect());
    this.auth.addEventListener('signin', (e) => this.signIn.open(e.detail.reason));
  }

  start() {
    for (const saved of this.store.rooms) this.rooms.set(saved.name, new Room(saved.name, saved));
    this.#bind();
    const want = this.store.active;
    this.show(this.rooms.has(want) ? want : (this.rooms.keys().next().value ?? null));
    this.sidebar.renderRoomList();
    this.status.renderNick();
    if (!this.auth.enabled && (!this.nick || validateNick(this.nick))) {
      this.status.render({ state: 'idle' });
      this.nickDialog.open({ first: true });
    } else {
      this.#connect();
    }
  }

  #bind() {
    this.composer.bind();
    this.sidebar.bind();
    this.notifier.bind();
    this.browse.bind();
    this.messages.bind();
    this.nickDialog.bind();
    this.deleteDialog.bind();
    this.topicDialog.bind();
    this.identity.bind();
    this.$['banner-action'].addEventListener('click', () => {
      if (this.status.nickProblem) this.nickDialog.open({ error: this.status.fatalText });
      else if (this.conn?.state === 'stopped') this.#connect();
      else this.conn?.reconnectNow();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) {
        this.rooms.get(this.active)?.markRead();
        markSeen(this, this.rooms.get(this.active));
        this.sidebar.renderRoomList();
      }
    });
  }

  // --- Connection ----------------------------------------------------------------------

  #connect() {
    if (this.conn) {
      this.conn.setNick(this.nick);
      return;
    }
    const memory = new TransportMemory();
    applyTransportSetting(memory);
    // Token mode: the token names the user, so no guest secret is made or sent.
    const getToken = this.auth.enabled ? () => this.auth.token() : null;
    const secret = this.auth.enabled ? () => null : guestSecret;
    const nick = this.nick || 'guest';
    const conn = new Connection({ config: this.config, nick, secret, memory, getToken });
    this.conn = conn;
    this.auth.attach(conn);
    conn.addEventListener('status', (e) => this.#onStatus(e.detail));
    conn.addEventListener('welcome', (e) => this.#onWelcome(e.detail));
    conn.addEventListener('open', (e) => this.#onRoomOpen(e.detail));
    conn.addEventListener('entry', (e) => this.#onEntry(e.detail.entry));
    conn.addEventListener('presence', (e) => this.#onPresence(e.detail));
    conn.addEventListener('renamed', (e) => applyRename(this, e.detail));
    conn.addEventListener('topic', (e) => applyTopic(this, e.detail));
    conn.addEventListener('readmarker', (e) => applyMarker(this, e.detail));
    conn.addEventListener('typing', (e) => this.#onTyping(e.detail));
    conn.addEventListener('fatal', (e) => this.#onFatal(e.detail));
    conn.addEventListener('rtt', (e) => this.status.rtt(e.detail.ms));
    conn.addEventListener('roomremoved', (e) => {
      const room = this.rooms.get(e.detail.room);
      if (!room) return;
      room.joined = false;
      this.leave(room);
      this.status.toast(`You no longer have access to #${room.name}.`, 'error');
    });
    conn.start();
  }

  #onStatus(s) {
    this.status.update(s);
    if (s.state !== 'open') {
      for (const room of this.rooms.values()) {
        room.joined = false;
        room.joining = false;
      }
      // The next session joins every room afresh (and hears the stored markers again).
      this.markers.stop();
      for (const retry of this.joinRetries.values()) clearTimeout(retry.timer);
      this.joinRetries.clear();
      this.sidebar.renderRoomList();
      this.sidebar.renderHeader();
    }
  }

  #onWelcome({ welcome, transport }) {
    this.status.welcome(welcome, transport);
    if (this.auth.enabled && welcome.nick !== this.nick) {
      this.nick = welcome.nick;
      this.status.renderNick();
    }
    this.limits = welcome.limits;
    this.composer.updateCounter();
    for (const room of this.rooms.values()) this.#join(room);
  }

  #onFatal(detail) {
    const e = this.status.fatal(detail);
    if (e.name === 'INVALID_NICK') {
      this.nickDialog.open({ error: this.status.fatalText });
    } else if (e.name === 'NICK_TAKEN') {
      this.identity.showTaken(this.nick);
    } else if (e.name === 'UNAUTHORIZED' && this.auth.enabled) {
      this.signIn.open(this.status.fatalText);
    } else if (!['SHUTTING_DOWN', 'SLOW_CONSUMER', 'IDLE_TIMEOUT', 'UNAVAILABLE', 'TOKEN_EXPIRED'].includes(e.name)) {
      // Those end in a reconnect that the banner shows (UNAVAILABLE: the relay could not
      // check the nick's claim without its store); the rest deserve a word.
      this.status.toast(this.status.fatalText, 'error');
    }
  }

  /** The nick dialog's answer: saved, and the connection opened (or told) with it. */
  setNick(nick, { first }) {
    const from = this.nick;
    const changed = nick !== from;
    this.nick = nick;
    this.store.nick = nick;
    this.status.renderNick();
    if (first && this.rooms.size === 0) this.openRoom(FIRST_ROOM);
    if (changed && canRename(this.conn)) renameFromDialog(this, from, nick);
    else if (changed || !this.conn || this.conn.state === 'stopped') this.#connect();
    this.composer.focus();
  }

  // --- Rooms ---------------------------------------------------------------------------

  async #join(room) {
    if (!this.conn?.isOpen || room.joining || room.joined) return;
    room.joining = true;
    room.joinError = null;
    this.sidebar.renderRoomList();
    const resume = room.resumePoint();
    const hadMessages = room.shown.size > 0;
    let joined;
    try {
      joined = await this.conn.request('Join', { room: room.name, resume });
    } catch (e) {
      room.joining = false;
      if (e.lost) return;
      const why = explainError(e.code, e.message);
      if (JOIN_RETRY_CODES.has(e.code)) {
        this.#retryJoin(room, why);
        return;
      }
      room.joinError = why;
      this.messages.notice(room, `Could not join #${room.name}. ${why.title}${why.detail ? ` ${why.detail}` : ''}`, 'error');
      this.sidebar.renderRoomList();
      this.sidebar.renderHeader();
      return;
    }
    if (this.rooms.get(room.name) !== room) {
      // Left while joining: leave on the relay too.
      if (!this.rooms.has(room.name)) this.conn.request('Leave', { room: room.name }).catch(() => {});
      return;
    }
    this.joinRetries.delete(room.name);
    this.#applyEpoch(room, joined.epoch);
    // A gap notice goes where the room stood before the join moved it past the gap.
    const stoodAt = room.lastSeq;
    const { gone, before } = room.joinedWith(joined, resume, hadMessages);
    if (joined.resume === 'Live') this.store.setPosition(room.name, room.epoch, room.lastSeq);
    if (gone > 0) {
      const text = `${formatNumber(gone)} older message${gone === 1 ? ' is' : 's are'} no longer stored and cannot be shown.`;
      this.messages.notice(room, text, 'warn', stoodAt);
    }
    if (before !== null) {
      if (before > 1) this.loadOlder(room, before);
      else this.#setMore(room, false);
    }
    this.#checkCaughtUp(room);
    for (const p of room.pending) if (p.state === 'queued') this.#sendPending(room, p);
    this.sidebar.renderRoomList();
    this.sidebar.renderHeader();
    this.sidebar.renderMembers();
  }

  /** Tries a refused join again after a backoff; says so in the room the first time. */
  #retryJoin(room, why) {
    const retry = this.joinRetries.get(room.name) ?? { count: 0, timer: null };
    if (retry.count === 0) {
      this.messages.notice(room, `Cannot join #${room.name} yet. ${why.title} Trying again…`, 'warn');
    }
    const delay = Math.min(JOIN_RETRY_MAX_MS, JOIN_RETRY_FIRST_MS * 2 ** retry.count);
    retry.count += 1;
    // Shown as joining meanwhile.
    room.joining = true;
    clearTimeout(retry.timer);
    retry.timer = setTimeout(() => {
      if (this.joinRetries.get(room.name) !== retry) return;
      retry.timer = null;
      room.joining = false;
      if (this.rooms.get(room.name) === room) this.#join(room);
    }, delay);
    this.joinRetries.set(room.name, retry);
    this.sidebar.renderRoomList();
  }

  /** A new epoch means the relay lost the room's history: what we hold no longer applies. */
  #applyEpoch(room, epoch) {
    const change = room.setEpoch(epoch);
    if (change === 'lost') {
      this.messages.forget(room);
      this.messages.renderTop(room);
      this.messages.notice(room, 'The relay lost this room’s earlier history. Showing what it has now.', 'warn');
    }
    if (change !== 'same') this.store.setPosition(room.name, room.epoch, room.lastSeq);
  }

  #onRoomOpen({ room: name, epoch }) {
    const room = this.rooms.get(name);
    if (room) this.#applyEpoch(room, epoch);
  }

  /** Joins (or creates: rooms exist once someone is in them) and shows a room. */
  openRoom(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(name);
      this.rooms.set(name, room);
      this.store.addRoom(name);
      this.#join(room);
    }
    this.show(name);
    this.sidebar.renderRoomList();
  }

  leave(room) {
    this.rooms.delete(room.name);
    clearTimeout(this.joinRetries.get(room.name)?.timer);
    this.joinRetries.delete(room.name);
    this.store.removeRoom(room.name);
    if (room.joined && this.conn?.isOpen) {
      this.conn.request('Leave', { room: room.name }).catch(() => {});
    }
    if (this.active === room.name) {
      const next = this.rooms.keys().next().value ?? null;
      this.show(next);
    }
    this.sidebar.renderRoomList();
  }

  /**
   * Undoes leaving `room`: the same room again, joined from where it stood, so its timeline
   * stays and what was said meanwhile follows.
   */
  rejoin(room) {
    if (this.rooms.has(room.name)) {
      this.show(room.name);
      return;
    }
    this.rooms.set(room.name, room);
    this.store.addRoom(room.name);
    if (room.epoch) this.store.setPosition(room.name, room.epoch, room.lastSeq);
    room.joined = false;
    room.joining = false;
    this.#join(room);
    this.show(room.name);
    this.sidebar.renderRoomList();
  }

  /** Puts the room `name` (or none) in view, keeping the scroll position and draft of the one before. */
  show(name) {
    const prev = this.rooms.get(this.active);
    if (prev && prev.name !== name) {
      this.messages.leaveScroll(prev);
      prev.draft = this.composer.leave();
    }
    this.active = name;
    this.store.active = name;
    const room = this.rooms.get(name);
    this.$.empty.hidden = room !== undefined;
    this.$.app.classList.toggle('no-room', room === undefined);
    this.$['room-view'].hidden = room === undefined;
    this.messages.show(room);
    if (room) {
      const firstUnread = room.markRead();
      markSeen(this, room);
      this.composer.show(room);
      this.messages.restoreScroll(room, firstUnread);
      if (room.more === null && room.shown.size === 0 && room.joined) this.#setMore(room, false);
    }
    this.sidebar.renderHeader();
    this.sidebar.renderMembers();
    this.messages.renderTyping();
    this.messages.renderJump();
    this.composer.updateCounter();
    this.status.renderTitle();
  }

  // --- Messages ------------------------------------------------------------------------

  /** A room log entry, each seq once: a message, or a change to a message shown. */
  #onEntry(e) {
    const room = this.rooms.get(e.room);
    if (!room) return;
    if (room.epoch && e.epoch !== room.epoch) this.#applyEpoch(room, e.epoch);
    if (!room.receive(e)) return;
    this.store.setPosition(room.name, room.epoch, room.lastSeq);
    if (isText(e)) this.#onText(room, e);
    else this.messages.update(room, room.change(e));
    markSeen(this, room);
    this.#checkCaughtUp(room);
  }

  #onText(room, e) {
    if (room.typing.delete(e.from) && room.name === this.active) this.messages.renderTyping();
    const own = e.from === this.nick;
    const m = room.record(e);
    if (!m) return;
    if (own) {
      const p = room.adopt(m);
      if (p) this.messages.removePending(p);
    }
    this.messages.addMessage(room, m);
    if (!own) this.#noteNew(room, m);
  }

  /** Counts and announces a message someone else sent. */
  #noteNew(room, m) {
    const live = m.seq > room.backfillTo;
    const mention = mentions(m.text, this.nick) || dmMembers(room.name) !== null;
    if (live && mention) this.notifier.notify(room, m);
    if (room.name !== this.active || document.hidden) {
      room.countUnread(m.seq, mention);
      this.sidebar.renderRoomList();
      this.status.renderTitle();
    }
    if (room.name === this.active) {
      if (this.messages.below()) {
        room.newBelow += 1;
        this.messages.renderJump();
      }
      if (live) this.status.announce(`${m.from}: ${m.text}`);
    }
  }

  /** Fetches a page of messages before `before` (exclusive; default: the oldest shown). */
  async loadOlder(room, before) {
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
    this.messages.renderTop(room);
    try {
      const page = await this.conn.request('History', { room: room.name, before, limit: HISTORY_PAGE });
      const added = room.takePage(page);
      for (let i = added.length - 1; i >= 0; i--) this.messages.addMessage(room, added[i], { prepend: true });
      room.loadingOlder = false;
      this.#setMore(room, page.more);
    } catch (e) {
      room.takePage(null);
      room.loadingOlder = false;
      this.messages.renderTop(room);
      if (!e.lost) this.status.toast(`Could not load older messages. ${explainError(e.code, e.message).title}`, 'error');
    }
  }

  #setMore(room, more) {
    room.more = more;
    this.messages.renderTop(room);
  }

  // --- Sending -------------------------------------------------------------------------

  /** A message from the composer (answering `replyTo`): pending at once, sent once joined. */
  send(room, text, replyTo = null) {
    const p = room.queue(text, replyTo);
    this.messages.addPending(room, p);
    this.messages.scrollToBottom();
    if (room.joined) this.#sendPending(room, p);
    else this.messages.renderPending(room, p);
  }

  async #sendPending(room, p) {
    if (utf8Length(p.text) > MAX_FRAME_LEN - FRAME_HEADROOM) {
      // Too large even to frame: the relay would refuse the frame outright.
      this.#fail(room, p, { code: 12, message: `message is ${formatNumber(utf8Length(p.text))} bytes; the most is ${formatNumber(this.limits?.max_text_bytes ?? 0)}` });
      return;
    }
    p.state = 'sending';
    this.messages.renderPending(room, p);
    try {
      const sent = await this.#sendRetrying(room, p);
      if (sent === null || p.done) return;
      const m = room.confirm(p, sent, this.nick);
      this.messages.removePending(p);
      if (m) this.messages.addMessage(room, m);
    } catch (e) {
      if (p.done) return;
      if (e.lost) {
        // It may or may not have been stored: the resumed room stream will tell.
        p.state = 'unconfirmed';
        this.messages.renderPending(room, p);
      } else {
        this.#fail(room, p, e);
      }
    }
  }

  /**
   * Sends `p` with its send id; a refusal of the relay's store (STORE_REFUSALS) is shown and
   * tried again by itself with backoff (sendRetryDelay). The answer, a refusal of another
   * kind, or null when `p` was discarded or its room left the session meanwhile (it is queued
   * again, and the next join sends it).
   */
  async #sendRetrying(room, p) {
    for (let tries = 1; ; tries++) {
      try {
        const fields = { room: room.name, text: p.text, send_id: p.sendId };
        // Post is SendOnce with a reply target, in version 2; a version-1 relay takes SendOnce.
        if (this.conn.entries) return await this.conn.request('Post', { ...fields, reply_to: p.replyTo });
        return await this.conn.request('SendOnce', fields);
      } catch (e) {
        if (p.done || !STORE_REFUSALS.has(e.codeName)) throw e;
        p.tries = tries;
        p.state = 'retrying';
        p.error = explainError(e.code, e.message);
        this.messages.renderPending(room, p);
      }
      await new Promise((resolve) => setTimeout(resolve, sendRetryDelay(tries)));
      if (p.done) return null;
      if (!room.joined || this.rooms.get(room.name) !== room) {
        p.state = 'queued';
        this.messages.renderPending(room, p);
        return null;
      }
    }
  }

  #fail(room, p, e) {
    room.fail(p, explainError(e.code, e.message));
    this.messages.renderPending(room, p);
    if (room.name === this.active) this.status.alert(`Message not sent. ${p.error.title}`);
  }

  #checkCaughtUp(room) {
    for (const p of room.caughtUp()) this.messages.renderPending(room, p);
  }

  retry(room, p) {
    p.state = 'queued';
    if (room.joined) this.#sendPending(room, p);
    else this.messages.renderPending(room, p);
  }

  edit(room, p) {
    this.discard(room, p);
    if (room.shown.get(p.replyTo)?.deleted === false) room.replyTo = p.replyTo;
    this.composer.edit(p.text);
  }

  discard(room, p) {
    room.settle(p);
    this.messages.removePending(p);
    this.composer.focus();
  }

  // --- Presence and typing ---------------------------------------------------------------

  #onPresence({ room: name, nick, joined }) {
    const room = this.rooms.get(name);
    if (!room) return;
    const changed = room.presence(nick, joined);
    if (nick !== this.nick && changed) this.messages.presenceNotice(room, nick, joined);
    if (!joined && room.typing.delete(nick) && name === this.active) this.messages.renderTyping();
    if (name === this.active) {
      this.sidebar.renderMembers();
      this.sidebar.renderHeader();
    }
  }

  #onTyping({ room: name, nick }) {
    const room = this.rooms.get(name);
    if (!room || nick === this.nick) return;
    room.typing.set(nick, Date.now() + TYPING_SHOW_MS);
    if (name === this.active) this.messages.renderTyping();
    this.messages.redrawTypingIn(TYPING_SHOW_MS + 50);
  }
}

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
  const config = await loadConfig();
  const app = new App(config);
  app.start();
  root.dataset.ready = 'true';
}

main();
