// The web client with two relays sharing one Redis (a cluster): messages cross relays, and
// when the page's relay dies the page moves on to the next relay its configuration lists
// (the relay registry tells each relay's page about the others) and resumes there,
// missing nothing and repeating nothing. A page on the WebSocket does the same over the
// WebSocket URLs its configuration lists.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, cli, describeBrowsers, launchBrowser, startRedis, tempDir, waitFor } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  explained,
  joinRoom,
  messages,
  openChat,
  recordStatuses,
  send,
  sendStored,
  transportOf,
  waitForTexts,
} from './pages.js';

/** Failing over waits for the dead relay's attempt to fail, then opens the next. */
const FAILOVER_MS = 40_000;

/**
 * An idle page notices a relay killed on loopback at once (by the ICMP port-unreachable it
 * leaves; elsewhere within 3.4 s, when its liveness ping goes unanswered) and opens the
 * next relay at once: the next message shows within seconds of being stored. This deadline
 * leaves a loaded machine plenty of room and still tells that apart from waiting for the
 * browser's QUIC idle timeout (30 s), the only other way such a page would notice. How fast
 * it is, is measured in docs/performance.md, not here.
 */
const FAST_FAILOVER_MS = 15_000;

describeBrowsers('cluster', () => {
  let first;
  let second;
  let redis;
  let redisUrl;
  let certsDir;

  before(async () => {
    redis = await startRedis();
    redisUrl = redis.url;
    // One dev CA for both, as in a cluster; each relay signs its own leaf with it.
    certsDir = tempDir('certs');
    first = await new Relay({ certsDir, extraArgs: ['--redis', redis.url] }).start();
    second = await new Relay({ certsDir, extraArgs: ['--redis', redis.url] }).start();
  });

  after(cleanup);

  /** Starts another relay of the cluster; returns once `relay`'s page configuration lists it. */
  async function startListedBy(relay) {
    const added = await new Relay({ certsDir, extraArgs: ['--redis', redisUrl] }).start();
    await waitFor(`the relay on ${relay.httpPort} to list the one on ${added.quicPort}`, async () => {
      const config = await (await fetch(`http://[::1]:${relay.httpPort}/config.json`)).json();
      return config.webtransport.some((url) => url.includes(`:${added.quicPort}/`));
    });
    return added;
  }

  test('the page fails over to the next relay in its list and resumes there', async () => {
    // The first relay's page lists both relays once the registry knows them.
    await waitFor('the first relay to list the second', async () => {
      const config = await (await fetch(`http://[::1]:${first.httpPort}/config.json`)).json();
      return config.webtransport.length === 2 && config.cert_hashes.length === 2;
    });
    const page = await openChat(await launchBrowser(), first, 'wes');
    await joinRoom(page, 'cluster');
    assert.match(await page.locator('#conn-status').getAttribute('title'), new RegExp(`:${first.quicPort}(\\D|$)`));
    // A message through the other relay reaches the page.
    await cli(second, 'zed', ['send', 'cluster', 'via second 1']);
    await waitForTexts(page, ['via second 1']);

    await first.kill();
    await cli(second, 'zed', ['send', 'cluster', 'via second 2']);
    await page
      .locator(`#conn-status[data-state="open"][title*=":${second.quicPort}"]`)
      .waitFor({ timeout: FAILOVER_MS });
    await cli(second, 'zed', ['send', 'cluster', 'via second 3']);
    const all = ['via second 1', 'via second 2', 'via second 3'];
    await waitForTexts(page, all, FAILOVER_MS);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), all);
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });

  test('an idle page whose relay is killed shows the next message within seconds', async () => {
    // Runs after the test above: its first relay is dead, and may still be listed.
    const third = await startListedBy(second);
    const page = await openChat(await launchBrowser(), second, 'ida');
    await joinRoom(page, 'quiet-failover');
    await cli(third, 'zed', ['send', 'quiet-failover', 'before the kill']);
    await waitForTexts(page, ['before the kill']);
    // Idle from here: nothing but the page's own liveness pings.
    await page.waitForTimeout(1_000);

    await second.kill();
    await cli(third, 'zed', ['send', 'quiet-failover', 'after the kill']);
    await waitForTexts(page, ['before the kill', 'after the kill'], FAST_FAILOVER_MS);
    assert.match(await page.locator('#conn-status').getAttribute('title'), new RegExp(`:${third.quicPort}(\\D|$)`));
    assertOrderedOnce(await messages(page));
    assertNoPageErrors(page);
  });

  test('a page that moves while Redis is paused keeps trying and shows what follows', async () => {
    const here = await new Relay({ certsDir, extraArgs: ['--redis', redisUrl] }).start();
    const there = await startListedBy(here);
    const page = await openChat(await launchBrowser(), here, 'pia');
    await joinRoom(page, 'paused');
    await cli(there, 'zed', ['send', 'paused', 'before the pause']);
    await waitForTexts(page, ['before the pause']);
    await recordStatuses(page);

    // The store stops answering, then the page's relay dies: the other relay cannot check
    // the nick's claim without its store, so it refuses the page's sessions (UNAVAILABLE)
    // rather than admit a nick it could not check, and the page keeps trying.
    const sessions = await page.locator('#app').getAttribute('data-sessions');
    redis.pause();
    try {
      await here.kill();
      await waitFor('the other relay refusing the page while its store is paused', async () => {
        const metrics = await (await fetch(`http://[::1]:${there.httpPort}/metrics`)).text();
        return /chitchat_errors_total\{code="UNAVAILABLE"\} [1-9]/.test(metrics);
      }, { timeout: FAILOVER_MS });
      assert.equal(await page.locator('#app').getAttribute('data-sessions'), sessions, 'no session on an unchecked nick');
    } finally {
      redis.resume();
    }
    await cli(there, 'zed', ['send', 'paused', 'after the pause']);
    await explained(page, waitForTexts(page, ['before the pause', 'after the pause'], FAILOVER_MS));
    // On another relay of the cluster (an earlier test's may be listed too).
    assert.doesNotMatch(await page.locator('#conn-status').getAttribute('title'), new RegExp(`:${here.quicPort}(\\D|$)`));
    assertOrderedOnce(await messages(page));
    assertNoPageErrors(page);
  });

  test('a message sent while Redis is stalled is retried with its send id and stored once', async () => {
    // A relay of its own: earlier tests of this suite kill relays.
    const here = await new Relay({ certsDir, extraArgs: ['--redis', redisUrl] }).start();
    const page = await openChat(await launchBrowser(), here, 'una');
    await joinRoom(page, 'stalled');
    const refusals = async () => {
      const text = await (await fetch(`http://[::1]:${here.httpPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('chitchat_errors_total{code="UNAVAILABLE"}'));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const before = await refusals();
    redis.pause();
    try {
      await send(page, 'sent while the store stalls');
      // The relay's store deadline passes: the send is refused UNAVAILABLE while its script
      // still waits in the stalled Redis, and the page tries again with the same send id.
      await waitFor('the relay to refuse the stalled send', async () => (await refusals()) > before);
    } finally {
      redis.resume();
    }
    await waitForTexts(page, ['sent while the store stalls'], FAILOVER_MS);
    // Stored once, though Redis ran the refused attempt and the retry both.
    const stored = (await cli(here, 'zed', ['history', 'stalled', '--json']))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).text);
    assert.deepEqual(stored, ['sent while the store stalls']);
    const shown = (await messages(page)).filter((m) => m.text === 'sent while the store stalls');
    assert.equal(shown.length, 1);
    assert.notEqual(shown[0].seq, null, 'the page confirmed it');
    assertNoPageErrors(page);
  });
});

describeBrowsers('cluster over the WebSocket', () => {
  let redisUrl;
  let certsDir;

  before(async () => {
    redisUrl = (await startRedis()).url;
    certsDir = tempDir('certs');
  });

  after(cleanup);

  test('a page forced onto the WebSocket fails over to the next relay over the WebSocket', async () => {
    const first = await new Relay({ certsDir, extraArgs: ['--redis', redisUrl] }).start();
    const second = await new Relay({ certsDir, extraArgs: ['--redis', redisUrl] }).start();
    // The first relay's page lists the second's WebSocket (from its registry `http` URL),
    // and its policy lets the page connect there.
    const secondWs = `ws://localhost:${second.httpPort}/ws`;
    await waitFor('the first relay to list the second relay\'s WebSocket', async () => {
      const config = await (await fetch(`http://[::1]:${first.httpPort}/config.json`)).json();
      return config.websocket.length === 2 && config.websocket[1] === secondWs;
    });
    const csp = (await fetch(`http://[::1]:${first.httpPort}/`)).headers.get('content-security-policy');
    assert.match(csp, new RegExp(`connect-src [^;]*ws://localhost:${second.httpPort}[ ;]`));

    const context = await launchBrowser({ transport: 'websocket' });
    const page = await openChat(context, first, 'wendy');
    assert.equal(await transportOf(page), 'websocket');
    await joinRoom(page, 'ws-cluster');
    assert.match(await page.locator('#conn-status').getAttribute('title'), new RegExp(`:${first.quicPort}(\\D|$)`));
    await cli(second, 'zed', ['send', 'ws-cluster', 'via second 1']);
    await waitForTexts(page, ['via second 1']);

    await first.kill();
    await cli(second, 'zed', ['send', 'ws-cluster', 'via second 2']);
    await page
      .locator(`#conn-status[data-state="open"][data-transport="websocket"][title*=":${second.quicPort}"]`)
      .waitFor({ timeout: FAILOVER_MS });
    await sendStored(page, 'from the page after failover', FAILOVER_MS);
    await cli(second, 'zed', ['send', 'ws-cluster', 'via second 3']);
    const all = ['via second 1', 'via second 2', 'from the page after failover', 'via second 3'];
    await waitForTexts(page, all, FAILOVER_MS);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), all);
    assert.deepEqual(list.map((m) => m.seq), [1, 2, 3, 4], 'no gap, nothing twice');
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });
});
