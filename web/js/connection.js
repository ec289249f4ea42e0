// The page's link to a relay over WebTransport or its WebSocket fallback: opening a session
// (racing the transports and each configured relay's URLs, dial.js),
// the control stream (Hello, requests matched to answers by id, liveness pings),
// the room streams, typing datagrams, and reconnecting by itself with backoff when the
// session ends. It knows the protocol and nothing of the page: it reports through events.
//
// Events (CustomEvent, details in brackets):
//   status   {state: 'connecting'|'open'|'waiting'|'stopped', attempt, retryAt, reason, goAway,
//             transport (when open)}
//   welcome  {welcome, transport}         a session is open: (re)join rooms now
//   open     {room, epoch}                a room stream began
//   entry    {entry}                      a room log entry: a message, edit, delete or reaction
//                                         (a version-1 session's Message is a text entry)
//   presence {room, nick, joined}
//   renamed  {room, from, to}             version 3: a member is now known as `to`
//   topic    {room, topic, by}            version 3: the room's topic (at open, and each change)
//   typing   {room, nick}
//   rtt      {ms}                         a liveness ping's round trip
//   fatal    {code, message}              the relay ended the session for this reason
//   tokenexpiring {expires_ms}            token mode: send Refresh with a fresh token before then

import {
  ClientDatagram,
  ClientFrame,
  CodecError,
  ErrorCode,
  FrameReader,
  PROTOCOL_VERSION,
  RoomFrame,
  ServerDatagram,
  ServerFrame,
  decodeDatagram,
  encodeDatagram,
  encodeFrame,
  errorInfo,
} from './codec.js';
import { ANSWERED_AFTER_STORE, LIVENESS_CHECK_MS, Liveness } from './liveness.js';
import { Dialer } from './dial.js';
import { TransportMemory, websocketUrl } from './transport.js';

/** How long opening a session (handshake, Hello, Welcome) may take before giving up on a URL. */
const CONNECT_TIMEOUT_MS = 8_000;

/** How long fetching a fresh /config.json may take before using the one we have. */
const CONFIG_TIMEOUT_MS = 3_000;

/** Reconnect delays: the first retry comes quickly, then doubling up to the cap. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/**
 * The wait before reconnecting after an open session was lost: short, since the attempt
 * starts with another relay when there is one; jittered like the rest.
 */
const LOST_RETRY_MS = 100;

/** ±25% jitter, so many pages dropped at once do not all come back in the same instant. */
const JITTER = 0.25;

/** Codes after which reconnecting cannot help until the person changes something. */
const NEEDS_PERSON = new Set([
  ErrorCode.INVALID_NICK,
  ErrorCode.NICK_TAKEN,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.UNAUTHORIZED,
]);

/** A request failed: the relay answered Error (`code` set) or the session ended (`lost`). */
export class RequestError extends Error {
  constructor(code, message, { lost = false } = {}) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
    this.codeName = code === null ? null : errorInfo(code).name;
    this.lost = lost;
  }
}

/** The requests each answer frame answers. */
const ANSWERS = {
  Joined: ['Join'],
  Left: ['Leave'],
  Sent: ['Send', 'SendOnce', 'Post', 'Edit', 'Delete', 'React'],
  History: ['History'],
  Entries: ['History'],
  Members: ['Who'],
  Pong: ['Ping'],
  Refreshed: ['Refresh'],
  Rooms: ['ListRooms'],
  RoomInfo: ['CreateRoom', 'SetTopic'],
  Renamed: ['Rename'],
  ReadMarker: ['MarkRead'],
};

export class Connection extends EventTarget {
  /**
   * @param {object} opts
   * @param {object} opts.config  the page config ({webtransport, websocket, cert_hashes, ...})
   * @param {string} opts.nick
   * @param {(nick: string) => string|null} [opts.secret]  the guest secret sent for a nick (Hello.token)
   * @param {string} [opts.configUrl]  where to re-read the config before reconnecting
   *   (a restarted relay has a new certificate hash)
   * @param {TransportMemory} [opts.memory]  the transport setting and the remembered winners
   * @param {string} [opts.wsUrl]  the relay's WebSocket URL (default: the page's origin)
   * @param {() => Promise<string>} [opts.getToken]  token mode: the token for each Hello (auth.js)
   */
  constructor({
    config,
    nick,
    secret = () => null,
    configUrl = '/config.json',
    memory = new TransportMemory(),
    wsUrl = websocketUrl(),
    getToken = null,
  }) {
    super();
    this.getToken = getToken;
    this.config = config;
    this.nick = nick;
    this.secret = secret;
    this.configUrl = configUrl;
    this.memory = memory;
    /** Which transport and relay each session is opened to (dial.js). */
    this.dialer = new Dialer({ memory, wsUrl });
    this.state = 'stopped';
    this.welcome = null;
    /** The session in service, or null. */
    this.session = null;
    this.stopped = true;
    this.wake = null;
  }

  /** Starts connecting, and keeps the page connected until `stop()`. */
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.#loop();
  }

  /** Closes the session and stops reconnecting. */
  stop() {
    this.stopped = true;
    this.session?.close('closing');
    this.wake?.();
    this.#status('stopped', {});
  }

  /** Reconnects with a new nick (the relay records the nick per session). */
  setNick(nick) {
    this.nick = nick;
    if (this.stopped) {
      this.start();
      return;
    }
    this.session?.close('changing nick', { quick: true });
    this.wake?.();
  }

  /** Skips the wait before the next attempt. */
  reconnectNow() {
    this.wake?.();
  }

  get isOpen() {
    return this.state === 'open' && this.session !== null;
  }

  /** Whether the session speaks version 2 (log entries: replies, edits, deletes, reactions). */
  get entries() {
    return (this.session?.welcome?.version ?? 0) >= 2;
  }

  /** Sends a request; resolves with the answer's fields, rejects with a RequestError. */
  request(kind, fields = {}) {
    if (!this.session) {
      return Promise.reject(new RequestError(null, 'not connected', { lost: true }));
    }
    return this.session.request(kind, fields);
  }

  /** Tells the room this person is typing (a datagram: may be lost, that is fine). */
  sendTyping(room) {
    this.session?.datagram({ Typing: { room } });
  }

  async #loop() {
    let attempt = 0;
    while (!this.stopped) {
      attempt += 1;
      this.#status('connecting', { attempt });
      let session = null;
      let reason = null;
      try {
        session = await this.#connect();
      } catch (e) {
        reason = e;
      }
      if (this.stopped) {
        session?.close('closing');
        break;
      }
      if (session && session.nick !== this.nick) {
        // The nick changed while this session was opening: open one with the new nick.
        session.close('changing nick');
        attempt = 0;
        continue;
      }
      let delay;
      let goAway = null;
      if (session) {
        attempt = 0;
        this.session = session;
        this.welcome = session.welcome;
        this.#status('open', { attempt: 0, transport: session.transport });
        this.#emit('welcome', { welcome: session.welcome, transport: session.transport });
        const end = await session.ended;
        this.session = null;
        if (this.stopped) break;
        reason = end;
        goAway = end.goAway;
        if (end.fatal && NEEDS_PERSON.has(end.fatal.code)) {
          // Reconnecting with the same nick or version would fail the same way.
          this.stopped = true;
          this.#status('stopped', { reason: end });
          break;
        }
        delay = goAway ? goAway.reconnect_ms : end.quick ? 0 : jitter(LOST_RETRY_MS);
        // Start with the next relay: this one just failed or is going away.
        if (!end.quick) this.dialer.moveOn(session.transport);
      } else if (reason instanceof RequestError && NEEDS_PERSON.has(reason.code)) {
        this.stopped = true;
        this.#status('stopped', { reason });
        break;
      } else {
        delay = jitter(Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1)));
      }
      if (delay > 0) {
        this.#status('waiting', { attempt, retryAt: Date.now() + delay, reason, goAway });
        await this.#sleep(delay);
      }
    }
  }

  /** Waits `ms`, or less if woken by `reconnectNow()`, `setNick()` or `stop()`. */
  #sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const online = () => done();
      addEventListener('online', online);
      const self = this;
      function done() {
        clearTimeout(timer);
        removeEventListener('online', online);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Opens a session (dial.js: the transports raced, each over the relays configured for it),
   * with the token of the moment in token mode.
   */
  async #connect() {
    await this.#refreshConfig();
    this.token = this.getToken ? await this.getToken() : null;
    return this.dialer.open({
      config: this.config,
      open: (target) => Session.open(target, this.nick, this),
      // A refusal of the person (nick, version) would come from every relay alike.
      isFinal: (e) => e instanceof RequestError && NEEDS_PERSON.has(e.code),
      stopped: () => this.stopped,
    });
  }

  /** Reads the current config (certificate hashes change when a relay restarts). */
  async #refreshConfig() {
    if (!this.configUrl) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), CONFIG_TIMEOUT_MS);
    try {
      const res = await fetch(this.configUrl, { cache: 'no-store', signal: abort.signal });
      if (res.ok) {
        const fresh = await res.json();
        if (fresh && Array.isArray(fresh.webtransport)) this.config = fresh;
      }
    } catch {
      // The HTTP side is unreachable too: try the addresses we know.
    } finally {
      clearTimeout(timer);
    }
  }

  #status(state, detail) {
    this.state = state;
    this.#emit('status', { state, ...detail });
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Used by Session to report what arrives. */
  _emit(type, detail) {
    this.#emit(type, detail);
  }
}

/**
 * One session (WebTransport, or QMux over a WebSocket: the same interface), from Hello to
 * its end. `ended` resolves (never rejects) with `{reason, fatal?, goAway?, quick?}` when it
 * is over, however it ends.
 */
class Session {
  /** Opens `target` ({transport, url, connect()}) and says Hello as `nick`. */
  static async open(target, nick, owner) {
    const { transport, url, connect } = target;
    let wt;
    try {
      wt = connect();
    } catch (e) {
      throw new Error(`cannot open ${url}: ${e.message}`);
    }
    // A rejected `closed` must never surface as an unhandled rejection.
    wt.closed.catch(() => {});
    const session = new Session(wt, owner, nick, transport);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${url} did not answer in time`)), CONNECT_TIMEOUT_MS);
    });
    try {
      await Promise.race([session.#handshake(nick), timeout]);
      return session;
    } catch (e) {
      session.close('connect failed');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  constructor(wt, owner, nick, transport) {
    this.wt = wt;
    this.owner = owner;
    /** WEBTRANSPORT or WEBSOCKET. */
    this.transport = transport;
    /** The nick this session says Hello with. */
    this.nick = nick;
    this.nextId = 1;
    this.pending = new Map();
    this.welcome = null;
    this.writer = null;
    this.datagramWriter = null;
    this.pingTimer = null;
    this.liveness = new Liveness({
      ping: () => this.request('Ping', {}),
      waitingOnStore: () => [...this.pending.values()].some(({ kind }) => ANSWERED_AFTER_STORE.has(kind)),
      dead: () => this.close('the relay stopped answering'),
      rtt: (ms) => this.owner._emit('rtt', { ms }),
    });
    this.fatal = null;
    this.goAway = null;
    this.quick = false;
    this.done = false;
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  async #handshake(nick) {
    await this.wt.ready;
    const stream = await this.wt.createBidirectionalStream();
    this.writer = stream.writable.getWriter();
    this.writer.closed.catch(() => {});
    const reader = stream.readable.getReader();
    const frames = new FrameReader(ServerFrame);
    const token = this.owner.token ?? this.owner.secret(nick);
    await this.writer.write(encodeFrame(ClientFrame, { Hello: { version: PROTOCOL_VERSION, nick, token } }));
    // The first frame is Welcome, or an Error saying why not.
    let first;
    while (first === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the relay closed the session before answering Hello');
      frames.push(value);
      first = frames.nextFrame();
    }
    if (first.Error) {
      const err = new RequestError(first.Error.code, first.Error.message);
      this.owner._emit('fatal', { code: first.Error.code, message: first.Error.message });
      this.fatal = first.Error;
      throw err;
    }
    if (!first.Welcome) throw new Error('the relay did not answer Hello with Welcome');
    this.welcome = first.Welcome;
    // Given up on while waiting (timed out): start nothing.
    if (this.done) throw new Error('the session was closed while opening');
    // Everything after Welcome: control frames, room streams, datagrams, pings.
    this.#readControl(reader, frames);
    this.#acceptRoomStreams();
    this.#readDatagrams();
    this.liveness.heard();
    this.pingTimer = setInterval(() => {
      if (!this.done) this.liveness.check();
    }, LIVENESS_CHECK_MS);
    this.wt.closed.then(
      () => this.#end('the relay closed the session'),
      (e) => this.#end(e?.message || 'connection lost'),
    );
  }

  /** Sends a request frame and waits for its answer. */
  request(kind, fields) {
    if (this.done) return Promise.reject(new RequestError(null, 'not connected', { lost: true }));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    let bytes;
    try {
      bytes = encodeFrame(ClientFrame, { [kind]: { id, ...fields } });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { kind, resolve, reject });
      this.writer.write(bytes).catch((e) => this.#end(`writing failed: ${e.message}`));
    });
  }

  datagram(value) {
    if (this.done) return;
    try {
      if (!this.datagramWriter) {
        const dg = this.wt.datagrams;
        const writable = typeof dg.createWritable === 'function' ? dg.createWritable() : dg.writable;
        this.datagramWriter = writable.getWriter();
      }
      this.datagramWriter.write(encodeDatagram(ClientDatagram, value)).catch(() => {});
    } catch {
      // Datagrams are best effort.
    }
  }

  /** Ends the session from this side. */
  close(reason, { quick = false } = {}) {
    this.quick = quick;
    try {
      this.wt.close({ closeCode: 0, reason: '' });
    } catch {
      // Already closed.
    }
    this.#end(reason);
  }

  async #readControl(reader, frames) {
    try {
      for (;;) {
        for (const frame of frames) this.#onServerFrame(frame);
        const { value, done } = await reader.read();
        if (done) {
          frames.finish();
          this.#end('the relay ended the control stream');
          return;
        }
        this.liveness.heard();
        frames.push(value);
      }
    } catch (e) {
      this.#failed(e, 'control stream');
    }
  }

  #onServerFrame(frame) {
    const [name] = Object.keys(frame);
    const body = frame[name];
    if (name === 'Error') {
      if (body.id === 0) {
        this.fatal = body;
        this.owner._emit('fatal', { code: body.code, message: body.message });
        return;
      }
      const waiting = this.pending.get(body.id);
      if (waiting) {
        this.pending.delete(body.id);
        waiting.reject(new RequestError(body.code, body.message));
      }
      return;
    }
    if (name === 'Left' && body.id === 0) {
      // The relay took the session out of a room: a refreshed token no longer grants it.
      this.owner._emit('roomremoved', { room: body.room });
      return;
    }
    if (name === 'ReadMarker' && body.id === 0) {
      // Another device of this person read the room (or the marker stored before a join).
      this.owner._emit('readmarker', { room: body.room, seq: body.seq });
      return;
    }
    if (name === 'TokenExpiring') {
      this.owner._emit('tokenexpiring', body);
      return;
    }
    if (name === 'GoAway') {
      this.goAway = body;
      // Reconnect after the delay the relay asked for (the loop waits it out).
      setTimeout(() => this.close('the relay is restarting'), 0);
      return;
    }
    if (ANSWERS[name]) {
      const waiting = this.pending.get(body.id);
      if (waiting && ANSWERS[name].includes(waiting.kind)) {
        this.pending.delete(body.id);
        waiting.resolve(body);
      }
    }
  }

  async #acceptRoomStreams() {
    const incoming = this.wt.incomingUnidirectionalStreams.getReader();
    try {
      for (;;) {
        const { value, done } = await incoming.read();
        if (done) return;
        this.#readRoom(value);
      }
    } catch {
      // The session ended; #end reports it.
    }
  }

  async #readRoom(stream) {
    const reader = stream.getReader();
    const frames = new FrameReader(RoomFrame);
    let room = null;
    try {
      for (;;) {
        for (const frame of frames) {
          if (frame.Open) {
            room = frame.Open.room;
            this.owner._emit('open', { room, epoch: frame.Open.epoch });
          } else if (room === null) {
            throw new CodecError('BAD_FRAME', 'a room stream must start with Open');
          } else if (frame.Entry || frame.Message) {
            this.owner._emit('entry', { entry: frame.Entry ?? frame.Message });
          } else if (frame.Presence) {
            this.owner._emit('presence', { room, ...frame.Presence });
          } else if (frame.Renamed) {
            this.owner._emit('renamed', { room, ...frame.Renamed });
          } else if (frame.Topic) {
            this.owner._emit('topic', { room, ...frame.Topic });
          }
        }
        const { value, done } = await reader.read();
        if (done) {
          frames.finish();
          return;
        }
        this.liveness.heard();
        frames.push(value);
      }
    } catch (e) {
      this.#failed(e, 'room stream');
    }
  }

  async #readDatagrams() {
    const reader = this.wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.liveness.heard();
        try {
          const d = decodeDatagram(ServerDatagram, value);
          if (d.Typing) this.owner._emit('typing', d.Typing);
        } catch {
          // A bad datagram is dropped: it carries nothing that matters.
        }
      }
    } catch {
      // The session ended.
    }
  }

  /** A stream failed: a codec error is the relay's fault (close with its code); else the session ended. */
  #failed(e, where) {
    if (this.done) return;
    if (e instanceof CodecError) {
      try {
        this.wt.close({ closeCode: e.wireCode, reason: e.message.slice(0, 100) });
      } catch {
        // Already closed.
      }
      this.#end(`bad data from the relay on the ${where}: ${e.message}`);
    } else {
      this.#end(e?.message || 'connection lost');
    }
  }

  #end(reason) {
    if (this.done) return;
    this.done = true;
    clearInterval(this.pingTimer);
    for (const { reject } of this.pending.values()) {
      reject(new RequestError(null, 'connection lost', { lost: true }));
    }
    this.pending.clear();
    this.resolveEnded({ reason, fatal: this.fatal, goAway: this.goAway, quick: this.quick });
  }
}

function jitter(ms) {
  return Math.round(ms * (1 - JITTER + Math.random() * 2 * JITTER));
}
