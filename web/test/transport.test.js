// Which transport the page tries first (js/transport.js): WebTransport where it works, the
// WebSocket at once where it is missing or known broken or chosen, the remembered winner
// first, and the memory's bounds against what storage may hold.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TransportMemory,
  WEBSOCKET,
  WEBTRANSPORT,
  WINNER_TTL_MS,
  applyTransportSetting,
  plan,
  webTransportSupport,
  websocketUrl,
} from '../js/transport.js';

const WITH_WT = { WebTransport: function WebTransport() {} };
const WITHOUT_WT = {};

const UA = {
  chrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  headless: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36 Edg/150.0.0.0',
  firefox153: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0',
  firefox140: 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.4 Safari/605.1.15',
  iosChrome: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/150.0 Mobile/15E148 Safari/604.1',
};

test('WebTransport is used in Chromium-family browsers and Firefox 153+', () => {
  for (const ua of [UA.chrome, UA.headless, UA.edge, UA.firefox153]) {
    assert.deepEqual(webTransportSupport(ua, WITH_WT), { usable: true, why: null }, ua);
  }
});

test('missing or known-broken WebTransport is not used', () => {
  assert.equal(webTransportSupport(UA.chrome, WITHOUT_WT).why, 'missing');
  assert.equal(webTransportSupport(UA.firefox140, WITH_WT).why, 'Firefox before 153');
  assert.equal(webTransportSupport(UA.safari, WITH_WT).why, 'Safari');
  assert.equal(webTransportSupport(UA.iosChrome, WITH_WT).why, 'Safari', 'every iOS browser is WebKit');
});

test('the plan: WebTransport first, the WebSocket at once where needed, the winner first', () => {
  const usable = { usable: true };
  const broken = { usable: false };
  assert.deepEqual(plan({ support: usable }), [WEBTRANSPORT, WEBSOCKET]);
  assert.deepEqual(plan({ support: usable, remembered: WEBTRANSPORT }), [WEBTRANSPORT, WEBSOCKET]);
  assert.deepEqual(plan({ support: usable, remembered: WEBSOCKET }), [WEBSOCKET, WEBTRANSPORT]);
  assert.deepEqual(plan({ support: broken }), [WEBSOCKET]);
  assert.deepEqual(plan({ support: broken, choice: WEBTRANSPORT }), [WEBSOCKET], 'a broken WebTransport is never forced');
  assert.deepEqual(plan({ support: usable, choice: WEBSOCKET }), [WEBSOCKET]);
  assert.deepEqual(plan({ support: usable, choice: WEBTRANSPORT, remembered: WEBSOCKET }), [WEBTRANSPORT]);
});

test('the WebSocket URL follows the page origin', () => {
  assert.equal(websocketUrl({ protocol: 'http:', host: 'localhost:8080' }), 'ws://localhost:8080/ws');
  assert.equal(websocketUrl({ protocol: 'https:', host: 'chat.example.org' }), 'wss://chat.example.org/ws');
});

function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
}

test('a winner is remembered per relay, for WINNER_TTL_MS', () => {
  let now = 1_000_000;
  const memory = new TransportMemory(memoryStorage(), () => now);
  assert.equal(memory.winner('a:1'), null);
  memory.remember('a:1', WEBSOCKET);
  memory.remember('b:2', WEBTRANSPORT);
  assert.equal(memory.winner('a:1'), WEBSOCKET);
  assert.equal(memory.winner('b:2'), WEBTRANSPORT);
  now += WINNER_TTL_MS + 1;
  assert.equal(memory.winner('a:1'), null, 'forgotten after a while');
});

test('the memory stays bounded and survives what storage may hold', () => {
  let now = 0;
  const storage = memoryStorage();
  const memory = new TransportMemory(storage, () => now);
  for (let i = 0; i < 100; i++) {
    now += 1;
    memory.remember(`relay-${i}:1`, WEBSOCKET);
  }
  const kept = Object.keys(JSON.parse(storage.data.get('chitchat:transport-winners:v1')));
  assert.equal(kept.length, 16);
  assert.equal(memory.winner('relay-99:1'), WEBSOCKET, 'the newest are kept');
  assert.equal(memory.winner('relay-0:1'), null);

  for (const junk of ['not json', '[1,2]', 'null', '{"x:1":{"kind":"carrier-pigeon","at":0}}']) {
    const m = new TransportMemory(memoryStorage({ 'chitchat:transport-winners:v1': junk, 'chitchat:transport': 'ftp' }), () => 0);
    assert.equal(m.winner('x:1'), null, junk);
    assert.equal(m.choice, 'auto');
  }
  const throwing = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('full'); }, removeItem: () => {} };
  const m = new TransportMemory(throwing);
  m.remember('x:1', WEBSOCKET);
  m.choice = WEBSOCKET;
  assert.equal(m.winner('x:1'), null);
  assert.equal(m.choice, 'auto');
});

test('the ?transport= setting is kept and taken out of the address', () => {
  const memory = new TransportMemory(memoryStorage());
  const replaced = [];
  const hist = { state: null, replaceState: (_s, _t, url) => replaced.push(url) };
  applyTransportSetting(memory, { search: '?transport=websocket&x=1', pathname: '/', hash: '#r' }, hist);
  assert.equal(memory.choice, WEBSOCKET);
  assert.deepEqual(replaced, ['/?x=1#r']);
  applyTransportSetting(memory, { search: '?transport=auto', pathname: '/', hash: '' }, hist);
  assert.equal(memory.choice, 'auto');
  applyTransportSetting(memory, { search: '', pathname: '/', hash: '' }, hist);
  assert.equal(replaced.length, 2, 'nothing to take out');
});
