// The WebSocket fallback through a real failure: the relay names a WebTransport address
// whose UDP port drops every packet (a firewall that blocks UDP), so the page's WebTransport
// attempt never answers and the race moves to the WebSocket on the relay's HTTP port by
// itself. That page chats with a page on WebTransport (loaded as 127.0.0.1, whose
// WebTransport address is the relay's real one), and a reload and a relay restart resume it
// with nothing missing or twice.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, cli, describeBrowsers, launchBrowser, udpBlackHole } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  joinRoom,
  messages,
  openChat,
  send,
  transportOf,
  waitForTexts,
} from './pages.js';

/** Reconnecting includes backoff waits of a few seconds: allow for several. */
const RECONNECT_MS = 40_000;

/** The bar for connecting over the WebSocket after load with UDP blocked (reported, not asserted). */
const FALLBACK_BAR_MS = 1_500;

describeBrowsers('UDP blocked', (browser) => {
  let relay;

  before(async () => {
    // The hole is on ::1, where both browsers send `localhost`'s WebTransport; the relay on
    // 127.0.0.1, which pages loaded as `localhost` reach over TCP too (TCP tries both).
    const hole = await udpBlackHole();
    // Pages loaded as `localhost` are told to use WebTransport at the black hole.
    relay = await new Relay({ host: '127.0.0.1', extraArgs: ['--public-addr', `localhost:${hole.port}`] }).start();
  });

  after(cleanup);

  /**
   * The relay's page as 127.0.0.1: its WebTransport address is the relay's own (forced, so
   * no race). Not [::1]: a Content-Security-Policy source cannot name an IPv6 address.
   */
  const directUrl = () => `http://127.0.0.1:${relay.httpPort}/?transport=webtransport`;

  test('the page falls back to the WebSocket by itself and chats with a WebTransport page', async () => {
    const ws = await openChat(await launchBrowser(), relay, 'blocked');
    assert.equal(await transportOf(ws), 'websocket');
    assert.match(await ws.locator('#conn-status').getAttribute('title'), /over WebSocket/);
    const wt = await openChat(await launchBrowser(), relay, 'open', { url: directUrl() });
    assert.equal(await transportOf(wt), 'webtransport');

    // From load to connected, for a page that knows its nick: with no winner remembered
    // (WebTransport first, the WebSocket after the head start), then with the WebSocket
    // remembered (first at once).
    for (const remembered of [false, true]) {
      if (!remembered) await ws.evaluate(() => localStorage.removeItem('chitchat:transport-winners:v1'));
      await ws.reload();
      const connectedAt = await ws.waitForFunction(
        () => document.querySelector('#conn-status[data-state="open"][data-transport="websocket"]') && performance.now(),
        undefined,
        { timeout: RECONNECT_MS },
      );
      const how = remembered ? 'the WebSocket remembered' : 'a fresh race';
      console.log(`${browser}, UDP blocked, ${how}: on the WebSocket ${Math.round(connectedAt)} ms after load (bar ${FALLBACK_BAR_MS} ms)`);
    }

    await joinRoom(ws, 'mixed');
    await joinRoom(wt, 'mixed');
    await ws.locator('#member-list .member-name', { hasText: /^open$/ }).waitFor();
    await wt.locator('#member-list .member-name', { hasText: /^blocked$/ }).waitFor();
    await send(ws, 'over the WebSocket');
    await waitForTexts(wt, ['over the WebSocket']);
    await send(wt, 'over WebTransport');
    await waitForTexts(ws, ['over the WebSocket', 'over WebTransport']);

    // Typing signals are datagrams on both paths.
    await ws.locator('#composer-input').pressSequentially('typing', { delay: 20 });
    await wt.locator('#typing', { hasText: 'blocked is typing…' }).waitFor();
    await wt.locator('#composer-input').pressSequentially('typing', { delay: 20 });
    await ws.locator('#typing', { hasText: 'open is typing…' }).waitFor();

    const seen = [];
    for (const page of [ws, wt]) {
      const list = await messages(page);
      assert.deepEqual(list.map((m) => m.text), ['over the WebSocket', 'over WebTransport']);
      assertOrderedOnce(list);
      assertNoPageErrors(page);
      seen.push(list.map((m) => [m.seq, m.from, m.text]));
    }
    assert.deepEqual(seen[0], seen[1], 'both transports number the messages alike');
  });

  test('a reload and a relay restart resume over the WebSocket, nothing missing or twice', async () => {
    const page = await openChat(await launchBrowser(), relay, 'resumer');
    assert.equal(await transportOf(page), 'websocket');
    await joinRoom(page, 'resume');
    await cli(relay, 'cli', ['send', 'resume', 'one']);
    await cli(relay, 'cli', ['send', 'resume', 'two']);
    await waitForTexts(page, ['one', 'two']);

    // Reload: the room resumes after its last seq.
    await page.reload();
    assert.equal(await transportOf(page, RECONNECT_MS), 'websocket');
    await cli(relay, 'cli', ['send', 'resume', 'three']);
    await waitForTexts(page, ['one', 'two', 'three']);

    // The relay is killed: what the page sends meanwhile waits, what others send meanwhile
    // is stored, and both arrive once after the restart.
    await relay.kill();
    await page.locator('#banner', { hasText: 'Connection lost' }).waitFor({ timeout: RECONNECT_MS });
    await send(page, 'sent while down');
    await relay.restart();
    await cli(relay, 'cli', ['send', 'resume', 'four']);
    assert.equal(await transportOf(page, RECONNECT_MS), 'websocket');
    await cli(relay, 'cli', ['send', 'resume', 'five']);
    const all = ['one', 'two', 'three', 'four', 'sent while down', 'five'];
    await waitForTexts(page, all, RECONNECT_MS);
    const list = await messages(page);
    assert.deepEqual([...list.map((m) => m.text)].sort(), [...all].sort());
    assert.ok(list.every((m) => m.seq !== null), 'every message confirmed');
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });
});
