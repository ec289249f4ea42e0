// Rooms people find and mentions people notice, in headless Chromium and Firefox against a
// real relay: the Browse rooms dialog lists the rooms in use with their topics and member
// counts, searches them, joins one, and creates one with a topic (refusing a name taken);
// a message mentioning the person shows a mention badge on its room, marks the mention in
// the text, and raises a notification while the page is hidden (with permission).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, cli, describeBrowsers, launchBrowser, screenshot, watchErrors } from './helpers.js';
import { assertNoPageErrors, joinRoom, openChat, pageUrl, showRoom, waitConnected, waitJoined } from './pages.js';

/** How long the page may take to show something. */
const SHOW_MS = 15_000;

/** The rooms the Browse dialog lists: `{name, facts, topic}`. */
function listed(page) {
  return page.$$eval('#browse-list .browse-item', (items) =>
    items.map((li) => ({
      name: li.dataset.room,
      topic: li.querySelector('.browse-topic')?.textContent ?? '',
      facts: li.querySelector('.browse-facts').textContent,
    })),
  );
}

/** Waits until the Browse dialog lists exactly `names`. */
async function waitListed(page, names) {
  await page.waitForFunction(
    (want) => JSON.stringify([...document.querySelectorAll('#browse-list .browse-item')].map((li) => li.dataset.room)) === JSON.stringify(want),
    names,
    { timeout: SHOW_MS },
  );
}

/**
 * Opens the page as `nick` with the browser's notifications replaced by a recorder (granted)
 * and `document.hidden` under the test's control (`window.__hidden`), so what the page does
 * while out of sight can be seen.
 */
async function openWatched(context, relay, nick) {
  const page = await context.newPage();
  page.errors = watchErrors(page);
  await page.raw.evaluateOnNewDocument(() => {
    window.__notes = [];
    window.__hidden = false;
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
    window.Notification = class {
      static permission = 'granted';
      static requestPermission() {
        return Promise.resolve('granted');
      }
      constructor(title, options) {
        window.__notes.push({ title, body: options?.body ?? '' });
      }
      addEventListener() {}
      close() {}
    };
  });
  await page.goto(pageUrl(context, relay));
  await page.locator('#nick-dialog').waitFor({ state: 'visible', timeout: SHOW_MS });
  await page.locator('#nick-input').fill(nick);
  await page.locator('#nick-input').press('Enter');
  await page.locator('#nick-dialog').waitFor({ state: 'hidden', timeout: SHOW_MS });
  await waitConnected(page);
  return page;
}

describeBrowsers('rooms and mentions', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('rooms are browsed, searched, joined and created with a topic', async () => {
    await cli(relay, 'bob', ['room', 'create', 'music', '--topic', 'Bands and gigs']);
    await cli(relay, 'bob', ['send', 'news', 'extra extra']);
    const page = await openChat(await launchBrowser(), relay, 'ada');
    await joinRoom(page, 'lobby');

    await page.click('#browse-button');
    await page.waitForFunction(() => document.getElementById('browse-dialog').open, null, { timeout: SHOW_MS });
    await waitListed(page, ['lobby', 'music', 'news']);
    const rooms = await listed(page);
    const music = rooms.find((r) => r.name === 'music');
    assert.equal(music.topic, 'Bands and gigs');
    assert.match(music.facts, /0 people here · no messages yet/);
    assert.match(rooms.find((r) => r.name === 'news').facts, /last active/);
    assert.match(rooms.find((r) => r.name === 'lobby').facts, /^1 person here/);
    await screenshot(page, 'browse-rooms');

    // Search by topic; join from the list.
    await page.locator('#browse-search').fill('GIGS');
    await waitListed(page, ['music']);
    await page.click('#browse-list .browse-item[data-room="music"] button');
    await waitJoined(page, 'music');

    // Create a room with a topic; a taken name is refused with words.
    await page.click('#browse-button');
    await page.waitForFunction(() => document.getElementById('browse-dialog').open, null, { timeout: SHOW_MS });
    await page.locator('#create-name').fill('news');
    await page.locator('#create-form button[type="submit"]').click();
    await page.waitForFunction(() => /exists already/.test(document.getElementById('create-error').textContent), null, { timeout: SHOW_MS });
    await page.locator('#create-name').fill('#ops');
    await page.locator('#create-topic').fill('Deploys and incidents');
    await page.locator('#create-form button[type="submit"]').click();
    await waitJoined(page, 'ops');
    const out = await cli(relay, 'bob', ['rooms', '--search', 'incidents', '--json']);
    const ops = JSON.parse(out.trim());
    assert.equal(ops.name, 'ops');
    assert.equal(ops.created_by, 'ada');
    assertNoPageErrors(page);
  });

  test('a mention is counted on its room, marked in the text, and notified while hidden', async () => {
    const page = await openWatched(await launchBrowser(), relay, 'kim');
    await joinRoom(page, 'lounge');
    await joinRoom(page, 'other');

    await cli(relay, 'bob', ['send', 'lounge', 'just chatting']);
    await cli(relay, 'bob', ['send', 'lounge', 'hey @kim, look at this']);
    await page.waitForFunction(
      () => document.querySelector('.room-link[data-room="lounge"] .badge.mention')?.textContent.startsWith('@1'),
      null,
      { timeout: SHOW_MS },
    );
    assert.match(await page.locator('.room-link[data-room="lounge"]').textContent(), /@1 mention\s*2 unread/);
    assert.deepEqual(await page.evaluate(() => window.__notes), [], 'the page is in view: no notification');

    // Out of sight, a mention is notified; a message without one is not.
    await page.evaluate(() => (window.__hidden = true));
    await cli(relay, 'bob', ['send', 'lounge', 'no mention here']);
    await cli(relay, 'bob', ['send', 'lounge', '@KIM are you there?']);
    await page.waitForFunction(() => window.__notes.length > 0, null, { timeout: SHOW_MS });
    assert.deepEqual(await page.evaluate(() => window.__notes), [{ title: 'bob in #lounge', body: '@KIM are you there?' }]);
    await page.evaluate(() => (window.__hidden = false));

    await showRoom(page, 'lounge');
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg.mentions-me .mention.me').length === 2, null, { timeout: SHOW_MS });
    assert.equal(await page.locator('.room-link[data-room="lounge"] .badge').count(), 0, 'seen: the badges go');
    await screenshot(page, 'mentions');
    assertNoPageErrors(page);
  });
});
