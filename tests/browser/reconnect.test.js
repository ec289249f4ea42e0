// The web client when the relay goes away: killed outright (SIGKILL) or shut down
// gracefully (SIGTERM, GoAway), then started again on the same ports and data. The page
// must say so, reconnect by itself, and show every message exactly once. Also: an idle page
// stays connected past the relay's idle timeout (its pings keep the session open).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DESKTOP, PHONE, Relay, cleanup, cli, cliChat, describeBrowsers, launchBrowser, screenshot, tempDir, waitFor } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  joinRoom,
  messages,
  openChat,
  send,
  waitConnected,
  waitForTexts,
} from './pages.js';

/** Reconnecting includes backoff waits of a few seconds: allow for several. */
const RECONNECT_MS = 40_000;

/** The idle test's relay closes sessions silent for this long (`--idle-timeout-secs`). */
const IDLE_TIMEOUT_SECS = 5;

/**
 * Past that relay's idle timeouts, the session's and QUIC's (half as long again, plus a
 * grace), with margin.
 */
const IDLE_WATCH_MS = 12_000;

describeBrowsers('reconnecting', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('relay killed and restarted: the page says so, reconnects, misses nothing, repeats nothing', async () => {
    const page = await openChat(await launchBrowser(), relay, 'ora');
    await joinRoom(page, 'ops');
    const ivan = cliChat(relay, 'ivan', 'ops');
    await page.locator('#member-list .member-name', { hasText: /^ivan$/ }).waitFor();
    ivan.say('before 1');
    ivan.say('before 2');
    await send(page, 'page before');
    await waitForTexts(page, ['before 1', 'before 2', 'page before']);
    const sessions = await page.locator('#app').getAttribute('data-sessions');

    await relay.kill();
    await page.locator('#banner', { hasText: 'Connection lost. Reconnecting' }).waitFor({ timeout: RECONNECT_MS });
    assert.notEqual(await page.locator('#app').getAttribute('data-conn'), 'open');
    assert.match(await page.locator('#conn-text').textContent(), /Reconnecting/);

    // While the relay is down: the page keeps what is typed, the CLI queues its lines.
    await send(page, 'page during');
    await page.locator('#messages .msg[data-state="queued"]', { hasText: 'page during' }).waitFor();
    await screenshot(page, 'reconnecting-desktop-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize(PHONE);
    await screenshot(page, 'reconnecting-phone-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);
    // Once the CLI noticed too (a line written before then goes down with the connection,
    // and the CLI says "not sent").
    await waitFor('the CLI to notice the relay is gone', () => ivan.lines.some((l) => l.includes('reconnecting')));
    ivan.say('during 1');
    ivan.say('during 2');

    await relay.restart();
    // Sent right after the restart, likely before the page is back.
    await cli(relay, 'judy', ['send', 'ops', 'after restart 1']);
    await waitConnected(page, RECONNECT_MS);
    assert.notEqual(await page.locator('#app').getAttribute('data-sessions'), sessions, 'a new session');
    await page.locator('#banner').waitFor({ state: 'hidden' });
    ivan.say('after 1');
    await cli(relay, 'judy', ['send', 'ops', 'after restart 2']);

    const all = [
      'before 1', 'before 2', 'page before', 'page during',
      'during 1', 'during 2', 'after restart 1', 'after 1', 'after restart 2',
    ];
    await waitForTexts(page, all, RECONNECT_MS);
    const list = await messages(page);
    assertOrderedOnce(list);
    assert.deepEqual(list.map((m) => m.text).sort(), [...all].sort(), 'each message once, none missing');
    assert.ok(list.every((m) => m.seq !== null), 'no message left pending');
    // The page's message sent during the outage reached the CLI too.
    await waitFor('the CLI to print the message the page sent during the outage', () =>
      ivan.lines.some((l) => l.includes('ora') && l.includes('page during')),
    );
    await ivan.close();
    assertNoPageErrors(page);
  });

  test('relay shut down gracefully (GoAway): the page says it is restarting and comes back', async () => {
    const page = await openChat(await launchBrowser(), relay, 'pia');
    await joinRoom(page, 'drain');
    await cli(relay, 'kai', ['send', 'drain', 'first']);
    await waitForTexts(page, ['first']);

    const stopped = relay.stop();
    await page.locator('#banner', { hasText: 'The relay is restarting' }).waitFor({ timeout: RECONNECT_MS });
    await stopped;
    await relay.restart();
    await waitConnected(page, RECONNECT_MS);
    await cli(relay, 'kai', ['send', 'drain', 'second']);
    await waitForTexts(page, ['first', 'second']);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), ['first', 'second']);
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });

  test('a relay that lost its history: the page says so and starts the room afresh', async () => {
    const page = await openChat(await launchBrowser(), relay, 'uma');
    await joinRoom(page, 'fresh');
    await cli(relay, 'kai', ['send', 'fresh', 'old 1']);
    await cli(relay, 'kai', ['send', 'fresh', 'old 2']);
    await waitForTexts(page, ['old 1', 'old 2']);

    await relay.kill();
    await page.locator('#banner', { hasText: 'Reconnecting' }).waitFor({ timeout: RECONNECT_MS });
    const keptData = relay.dataDir;
    relay.dataDir = tempDir('data');
    await relay.restart();
    await waitConnected(page, RECONNECT_MS);
    await page.locator('.notice', { hasText: 'The relay lost this room’s earlier history' }).waitFor();
    // The new history numbers from 1 again: its messages are not mistaken for repeats.
    await cli(relay, 'kai', ['send', 'fresh', 'new 1']);
    await waitForTexts(page, ['new 1']);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => [m.seq, m.text]), [[1, 'new 1']]);

    // Back to the first store for the tests after this one.
    await relay.kill();
    relay.dataDir = keptData;
    await relay.restart();
    assertNoPageErrors(page);
  });

  test("an idle page pings, and stays on its session past the relay's idle timeout", async () => {
    // A relay of its own, quick to drop a silent session.
    const quiet = await new Relay({ extraArgs: ['--idle-timeout-secs', String(IDLE_TIMEOUT_SECS)] }).start();
    const page = await openChat(await launchBrowser(), quiet, 'quinn');
    await joinRoom(page, 'quiet');
    const sessions = await page.locator('#app').getAttribute('data-sessions');
    // The relay drops sessions silent for 5 s; the page pings after 2 s of silence. Watch
    // the page for longer than the timeout: it must stay on its first session throughout.
    const until = Date.now() + IDLE_WATCH_MS;
    while (Date.now() < until) {
      const [conn, now] = await page.locator('#app').evaluate((el) => [el.dataset.conn, el.dataset.sessions]);
      assert.equal(conn, 'open', 'the idle session was dropped');
      assert.equal(now, sessions, 'the page had to reconnect');
      await page.waitForTimeout(500);
    }
    // The pings were answered: the page shows their round trip.
    const rtt = Number(await page.locator('#conn-status').getAttribute('data-rtt'));
    assert.ok(rtt >= 1, 'a keep-alive ping was answered');
    assert.match(await page.locator('#conn-status').getAttribute('title'), /round trip \d+ ms/);
    await cli(quiet, 'kai', ['send', 'quiet', 'still here?']);
    await waitForTexts(page, ['still here?']);
    assertNoPageErrors(page);
  });
}, { websocket: true });
