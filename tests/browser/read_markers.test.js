// Read markers across two browsers of one person (protocol version 3) in headless Chromium
// and Firefox against a real relay: two pages of the guest "ada" holding the same guest
// secret (each in a browser of its own) both count another person's messages in a room out
// of sight; when page A shows the room (and so reads it), page B's unread badge for it
// clears, and a later message counts on B again from there.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, cli, describeBrowsers, launchBrowser, watchErrors } from './helpers.js';
import { assertNoPageErrors, joinRoom, openChat, pageUrl, showRoom, waitConnected, waitForTexts } from './pages.js';

/** How long the page may take to show something. */
const SHOW_MS = 15_000;

/** The room's unread badge on `page` (a locator), the one saying `count` if given. */
function badge(page, room, count) {
  const selector = `.room-link[data-room="${room}"] .badge`;
  return count === undefined ? page.locator(selector) : page.locator(selector, { hasText: String(count) });
}

/**
 * Opens the chat page as `nick` in a fresh browser that holds `secret` for it: the secret is
 * put in the page's localStorage (as the page's "use a secret" does), then the page is
 * reloaded and the nick chosen in the first-run dialog.
 */
async function openWithSecret(relay, nick, secret) {
  const context = await launchBrowser();
  const page = await context.newPage();
  page.errors = watchErrors(page);
  await page.goto(pageUrl(context, relay));
  await page.evaluate(([n, s]) => localStorage.setItem(`chitchat:guest:${n}`, s), [nick, secret]);
  await page.reload();
  const dialog = page.locator('#nick-dialog');
  await dialog.waitFor({ state: 'visible', timeout: SHOW_MS });
  await page.locator('#nick-input').fill(nick);
  await page.locator('#nick-input').press('Enter');
  await dialog.waitFor({ state: 'hidden', timeout: SHOW_MS });
  await waitConnected(page);
  return page;
}

describeBrowsers('read markers across two pages of the same nick', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test("page B's unread badge clears when page A reads the room", async () => {
    const a = await openChat(await launchBrowser(), relay, 'ada');
    const secret = await a.evaluate(() => localStorage.getItem('chitchat:guest:ada'));
    assert.ok(secret, 'page A made a guest secret');
    const b = await openWithSecret(relay, 'ada', secret);
    assert.equal(await b.locator('#nick-label').textContent(), 'ada', 'the secret holds the nick on B too');
    for (const page of [a, b]) {
      await joinRoom(page, 'marked');
      await joinRoom(page, 'elsewhere');
    }

    for (const text of ['one', 'two', 'three']) await cli(relay, 'eve', ['send', 'marked', text]);
    for (const page of [a, b]) await badge(page, 'marked', 3).waitFor({ timeout: SHOW_MS });

    await showRoom(a, 'marked');
    await waitForTexts(a, ['one', 'two', 'three']);
    await badge(b, 'marked').waitFor({ state: 'detached', timeout: SHOW_MS });
    assert.equal(await b.locator('#room-title').textContent(), 'elsewhere', 'B still shows its own room');

    // A message after the marker counts on B again, one only.
    await showRoom(a, 'elsewhere');
    await cli(relay, 'eve', ['send', 'marked', 'four']);
    await badge(b, 'marked', 1).waitFor({ timeout: SHOW_MS });
    await badge(a, 'marked', 1).waitFor({ timeout: SHOW_MS });

    assertNoPageErrors(a);
    assertNoPageErrors(b);
  });
});
