// Where and how the page opens a session: the transports raced in the order transport.js
// plans, and within each transport the relays of the page's configuration, staggered
// (happy eyeballs, race.js). WebTransport tries `config.webtransport`; the WebSocket tries
// the page's own origin first, then `config.websocket` (the cluster's other live relays), so
// a page on the WebSocket fails over across the cluster as a WebTransport page does. Each
// transport remembers which of its URLs answered last and starts there next time.

import { firstToOpen } from './race.js';
import { HEAD_START_MS, WEBSOCKET, WEBTRANSPORT, openWebSocket, openWebTransport, plan, webTransportSupport } from './transport.js';

/**
 * The next configured URL is tried alongside a pending attempt after this long, or at once
 * when it fails (happy eyeballs, RFC 8305's connection attempt delay): a dead relay costs
 * a quarter second, not a connect timeout.
 */
export const CONNECT_STAGGER_MS = 250;

/**
 * The WebSocket URLs to try: `own` (the page's origin) first, then each `configured` ws:// or
 * wss:// URL not already listed.
 */
export function websocketUrls(own, configured) {
  const urls = [own];
  for (const url of Array.isArray(configured) ? configured : []) {
    if (typeof url === 'string' && /^wss?:\/\//.test(url) && !urls.includes(url)) urls.push(url);
  }
  return urls;
}

/** Chooses the transport and the relay for each session of one page. */
export class Dialer {
  /**
   * @param {object} opts
   * @param {import('./transport.js').TransportMemory} opts.memory  the setting and the winners
   * @param {string} opts.wsUrl  the page's own WebSocket URL (its origin's `/ws`)
   * @param {{usable: boolean}} [opts.support]  whether WebTransport works here
   */
  constructor({ memory, wsUrl, support = webTransportSupport() }) {
    this.memory = memory;
    this.wsUrl = wsUrl;
    this.support = support;
    /** Winners are remembered per relay: the one the page came from. */
    this.relayKey = new URL(wsUrl).host;
    /** Per transport, the index in its URL list to start from next time. */
    this.start = { [WEBTRANSPORT]: 0, [WEBSOCKET]: 0 };
  }

  /**
   * Starts `transport`'s next attempt with the URL after the one that answered last: that
   * relay just failed or is going away.
   */
  moveOn(transport) {
    if (transport in this.start) this.start[transport] += 1;
  }

  /**
   * Opens a session, racing the transports (transport.js `plan`): the first starts at once,
   * the next HEAD_START_MS later or as soon as the first fails; the first session to open
   * wins, a later one is closed. The winner is remembered for this relay when the
   * page chose by itself. `open({transport, url, connect})` opens and greets one session;
   * `isFinal(error)` says a refusal every relay would repeat; `stopped()` ends the tries.
   */
  async open({ config, open, isFinal, stopped }) {
    const choice = this.memory.choice;
    const order = plan({ support: this.support, choice, remembered: this.memory.winner(this.relayKey) });
    const { value } = await firstToOpen({
      count: order.length,
      staggerMs: HEAD_START_MS,
      open: (i) => this.#openAny(order[i], config, { open, isFinal, stopped }),
      isFinal,
      discard: (session) => session.close('another transport answered first'),
      stopped,
    });
    if (choice === 'auto' && order.length > 1) this.memory.remember(this.relayKey, value.transport);
    return value;
  }

  /** The URLs `transport` tries, from the configuration. */
  urls(transport, config) {
    if (transport === WEBSOCKET) return websocketUrls(this.wsUrl, config.websocket);
    return Array.isArray(config.webtransport) ? config.webtransport : [];
  }

  /**
   * A session over `transport` at one of its URLs, starting with the one remembered: each
   * next URL is tried after CONNECT_STAGGER_MS or as soon as an earlier attempt fails, while
   * the earlier ones go on; the first session to open wins and the others are closed.
   */
  async #openAny(transport, config, { open, isFinal, stopped }) {
    const urls = this.urls(transport, config);
    if (urls.length === 0) throw new Error('no relay address is configured');
    const first = this.start[transport] % urls.length;
    const hashes = config.cert_hashes ?? [];
    const connect = (url) => (transport === WEBSOCKET ? () => openWebSocket(url) : () => openWebTransport(url, hashes));
    const { value, index } = await firstToOpen({
      count: urls.length,
      staggerMs: CONNECT_STAGGER_MS,
      open: (i) => {
        const url = urls[(first + i) % urls.length];
        return open({ transport, url, connect: connect(url) });
      },
      isFinal,
      discard: (session) => session.close('another relay answered first'),
      stopped,
    });
    this.start[transport] = (first + index) % urls.length;
    return value;
  }
}
