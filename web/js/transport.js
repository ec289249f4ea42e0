// The two ways the page reaches a relay, and which to try first. WebTransport (QUIC, UDP) is
// the native path; the WebSocket path carries the same session over TCP on the relay's HTTP
// port, as QMux records (docs/protocol.md), through the vendored `@moq/qmux` session, which
// has WebTransport's interface: the session code above does not know which one it has.
//
// The plan: WebTransport first and the WebSocket a head start later, or the WebSocket at
// once where WebTransport is missing or known broken, or when a person chose it; a transport
// that won for a relay lately goes first next time (remembered in localStorage).

import QmuxSession from '../vendor/qmux/index.js';

/** The transports, as the status and the stored preference name them. */
export const WEBTRANSPORT = 'webtransport';
export const WEBSOCKET = 'websocket';

/** How the status names each transport to people. */
export const TRANSPORT_LABEL = { [WEBTRANSPORT]: 'WebTransport', [WEBSOCKET]: 'WebSocket' };

/** The WebSocket subprotocol the relay accepts: QMux draft 02 carrying chitchat/1. */
export const WEBSOCKET_PROTOCOL = 'qmux-02.chitchat-1';

/** The relay's WebSocket endpoint on its HTTP port. */
const WEBSOCKET_PATH = '/ws';

/**
 * How long WebTransport has alone before the WebSocket starts too (moq's figure): a working
 * UDP path answers well within it, so the WebSocket rarely runs for nothing, and a blocked
 * one costs half a second, not a QUIC handshake timeout.
 */
export const HEAD_START_MS = 500;

/**
 * How long a winner is remembered per relay: long enough for reloads and reconnects on one
 * network to skip the head start, short enough that a page moved to a network where UDP
 * works goes back to WebTransport within the hour.
 */
export const WINNER_TTL_MS = 60 * 60 * 1000;

/** First Firefox with more than two concurrent server-opened WebTransport streams. */
const FIREFOX_MIN = 153;

/** Where the winners and the person's choice are kept. */
const WINNERS_KEY = 'chitchat:transport-winners:v1';
const CHOICE_KEY = 'chitchat:transport';

/** Most relays remembered: the oldest are forgotten past it. */
const WINNERS_MAX = 16;

/**
 * Whether this browser's WebTransport can carry a ChitChat session: `{usable, why}`.
 * Missing where there is no `WebTransport` (old browsers, pages that are not a secure
 * context); known broken in WebKit, which is Safari and every iOS browser (flow-control and
 * stream-limit bugs, WebKit bug 319818; until verified), and in Firefox before 153 (two
 * server-opened streams at most: a third joined room would stay silent).
 */
export function webTransportSupport(userAgent = navigator.userAgent, global = globalThis) {
  if (typeof global.WebTransport !== 'function') return { usable: false, why: 'missing' };
  const firefox = /\bFirefox\/(\d+)/.exec(userAgent);
  if (firefox && Number(firefox[1]) < FIREFOX_MIN) return { usable: false, why: 'Firefox before 153' };
  const webkit = /\bAppleWebKit\//.test(userAgent) && !/(Chrome|Chromium|Edg)\//.test(userAgent);
  if (webkit) return { usable: false, why: 'Safari' };
  return { usable: true, why: null };
}

/** The relay's WebSocket URL, from the page's own origin (its HTTP port): ws:// or wss://. */
export function websocketUrl(loc = location) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${WEBSOCKET_PATH}`;
}

/**
 * The transports to race, in order: each next one starts HEAD_START_MS after the previous,
 * or at once when the previous fails. `choice` is the person's setting ('auto', 'websocket'
 * or 'webtransport'); `remembered` the transport that won for this relay lately.
 */
export function plan({ support, choice = 'auto', remembered = null }) {
  if (choice === WEBSOCKET || !support.usable) return [WEBSOCKET];
  if (choice === WEBTRANSPORT) return [WEBTRANSPORT];
  return remembered === WEBSOCKET ? [WEBSOCKET, WEBTRANSPORT] : [WEBTRANSPORT, WEBSOCKET];
}

/** A WebTransport session to `url`, accepting the certificates of `certHashes` (hex). */
export function openWebTransport(url, certHashes = []) {
  const options = {};
  // Each hash once: a configuration merged from several relays may repeat one.
  const hashes = [...new Set(certHashes.map((x) => String(x).toLowerCase()))].map(hexBytes).filter(Boolean);
  if (hashes.length > 0) {
    options.serverCertificateHashes = hashes.map((value) => ({ algorithm: 'sha-256', value }));
  }
  return new WebTransport(url, options);
}

/** A QMux session over a WebSocket to `url`: the same interface as a WebTransport. */
export function openWebSocket(url) {
  return new QmuxSession(url, { protocols: [WEBSOCKET_PROTOCOL], requireProtocol: true });
}

/**
 * What the page remembers about transports, in localStorage: the person's choice (from the
 * page's `?transport=` setting) and, per relay, the transport that last won and when.
 */
export class TransportMemory {
  constructor(storage = safeStorage(), now = () => Date.now()) {
    this.storage = storage;
    this.now = now;
  }

  /** 'auto', 'websocket' or 'webtransport'. */
  get choice() {
    const v = this.#get(CHOICE_KEY);
    return v === WEBSOCKET || v === WEBTRANSPORT ? v : 'auto';
  }

  set choice(value) {
    if (value === WEBSOCKET || value === WEBTRANSPORT) this.#set(CHOICE_KEY, value);
    else this.#remove(CHOICE_KEY);
  }

  /** The transport that won for `relay` within WINNER_TTL_MS, or null. */
  winner(relay) {
    const entry = this.#winners()[relay];
    if (!entry || this.now() - entry.at > WINNER_TTL_MS) return null;
    return entry.kind === WEBSOCKET || entry.kind === WEBTRANSPORT ? entry.kind : null;
  }

  /** Remembers that `kind` won for `relay` now. */
  remember(relay, kind) {
    const all = this.#winners();
    all[relay] = { kind, at: this.now() };
    const kept = Object.entries(all)
      .filter(([, e]) => e && Number.isFinite(e.at))
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, WINNERS_MAX);
    this.#set(WINNERS_KEY, JSON.stringify(Object.fromEntries(kept)));
  }

  #winners() {
    try {
      const v = JSON.parse(this.#get(WINNERS_KEY) ?? '{}');
      return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
    } catch {
      return {};
    }
  }

  #get(key) {
    try {
      return this.storage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }

  #set(key, value) {
    try {
      this.storage?.setItem(key, value);
    } catch {
      // Storage full or refused: the page works without remembering.
    }
  }

  #remove(key) {
    try {
      this.storage?.removeItem(key);
    } catch {
      // As above.
    }
  }
}

/**
 * Reads the page's `?transport=websocket|webtransport|auto` setting into `memory` (so a
 * reload keeps it) and removes it from the address bar.
 */
export function applyTransportSetting(memory, loc = location, hist = history) {
  const params = new URLSearchParams(loc.search);
  if (!params.has('transport')) return;
  memory.choice = params.get('transport');
  params.delete('transport');
  const rest = params.toString();
  hist.replaceState(hist.state, '', `${loc.pathname}${rest ? `?${rest}` : ''}${loc.hash}`);
}

function safeStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** "ab01..." -> Uint8Array, or null if it is not hex. */
function hexBytes(hex) {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/i.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
