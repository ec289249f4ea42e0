// Where the page opens its sessions (js/dial.js): the WebSocket over the page's own origin
// first and then the cluster's other relays from the configuration, each transport starting
// where it last succeeded, and moving on past a relay that failed.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Dialer, websocketUrls } from '../js/dial.js';
import { TransportMemory, WEBSOCKET, WEBTRANSPORT } from '../js/transport.js';

const OWN = 'ws://localhost:8080/ws';
const CONFIG = {
  webtransport: ['https://localhost:4433/', 'https://localhost:4434/'],
  websocket: ['ws://localhost:8080/ws', 'ws://localhost:8081/ws', 'ws://localhost:8082/ws'],
  cert_hashes: [],
};

/** A storage that keeps items in memory, as localStorage does. */
function storage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
}

/** A dialer with the WebSocket forced (or `choice`), WebTransport usable. */
function dialer(choice = WEBSOCKET) {
  const memory = new TransportMemory(storage());
  memory.choice = choice;
  return new Dialer({ memory, wsUrl: OWN, support: { usable: true, why: null } });
}

/** Opens with `up` the URLs that answer; returns the URL that won and every URL tried. */
async function openWith(d, up, config = CONFIG) {
  const tried = [];
  const session = await d.open({
    config,
    open: async ({ transport, url }) => {
      tried.push(url);
      if (!up.has(url)) throw new Error(`${url} is down`);
      return { transport, url, close() {} };
    },
    isFinal: () => false,
    stopped: () => false,
  });
  return { url: session.url, transport: session.transport, tried };
}

test("the WebSocket URLs start with the page's own origin, then the others once each", () => {
  assert.deepEqual(websocketUrls(OWN, CONFIG.websocket), [
    OWN,
    'ws://localhost:8081/ws',
    'ws://localhost:8082/ws',
  ]);
  // The page's origin first even where the configuration names this relay otherwise.
  assert.deepEqual(websocketUrls(OWN, ['ws://127.0.0.1:8080/ws', 'wss://b.example/ws']), [
    OWN,
    'ws://127.0.0.1:8080/ws',
    'wss://b.example/ws',
  ]);
  // Nothing but ws:// and wss:// URLs from the configuration; a missing list is no list.
  assert.deepEqual(websocketUrls(OWN, ['https://x.example/', 'javascript:1', 7, null]), [OWN]);
  assert.deepEqual(websocketUrls(OWN, undefined), [OWN]);
  assert.deepEqual(websocketUrls(OWN, 'ws://x.example/ws'), [OWN]);
});

test('a page on the WebSocket moves on to the next relay when its own is down, and stays there', async () => {
  const d = dialer();
  const first = await openWith(d, new Set([OWN, 'ws://localhost:8081/ws']));
  assert.equal(first.url, OWN);
  assert.equal(first.transport, WEBSOCKET);

  // The page's relay dies: the next session starts after it and opens at the next relay.
  d.moveOn(WEBSOCKET);
  const second = await openWith(d, new Set(['ws://localhost:8081/ws']));
  assert.equal(second.url, 'ws://localhost:8081/ws');
  assert.deepEqual(second.tried, ['ws://localhost:8081/ws']);

  // A reconnect to a relay that is still up starts where the last session was.
  const third = await openWith(d, new Set(['ws://localhost:8081/ws', 'ws://localhost:8082/ws']));
  assert.deepEqual(third.tried, ['ws://localhost:8081/ws']);

  // That relay dies too, and the list wraps around to the page's own origin when it is back.
  d.moveOn(WEBSOCKET);
  const fourth = await openWith(d, new Set([OWN]));
  assert.equal(fourth.url, OWN);
  assert.deepEqual(fourth.tried.slice(0, 2), ['ws://localhost:8082/ws', OWN]);
});

test('a dead relay first in line costs no more than an attempt: the next one opens', async () => {
  const d = dialer();
  const { url, tried } = await openWith(d, new Set(['ws://localhost:8082/ws']));
  assert.equal(url, 'ws://localhost:8082/ws');
  assert.deepEqual(tried, [OWN, 'ws://localhost:8081/ws', 'ws://localhost:8082/ws']);
  // The index that answered is remembered.
  assert.deepEqual((await openWith(d, new Set(['ws://localhost:8082/ws']))).tried, ['ws://localhost:8082/ws']);
});

test('each transport keeps its own place in its own list', async () => {
  const d = dialer(WEBTRANSPORT);
  const wt = await openWith(d, new Set(['https://localhost:4434/']));
  assert.equal(wt.url, 'https://localhost:4434/');
  assert.equal(wt.transport, WEBTRANSPORT);
  d.memory.choice = WEBSOCKET;
  const ws = await openWith(d, new Set([OWN]));
  assert.deepEqual(ws.tried, [OWN]);
  // Moving on from the WebSocket relay leaves WebTransport's place alone.
  d.moveOn(WEBSOCKET);
  d.memory.choice = WEBTRANSPORT;
  assert.deepEqual((await openWith(d, new Set(['https://localhost:4434/']))).tried, ['https://localhost:4434/']);
});

test('without a WebSocket list (an older relay) the page still has its own origin', async () => {
  const d = dialer();
  const { url } = await openWith(d, new Set([OWN]), { webtransport: CONFIG.webtransport });
  assert.equal(url, OWN);
});

test('no WebTransport URL configured is an error, not a hang', async () => {
  const d = dialer(WEBTRANSPORT);
  await assert.rejects(openWith(d, new Set(), { webtransport: [] }), /no relay address/);
});
