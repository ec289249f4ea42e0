// A room's topic on the page (protocol version 3) in headless Chromium and Firefox against a
// real relay: a topic set from one page's Topic dialog shows in both pages' room headers at
// once, with one "… set the topic" line each; a topic the page cannot send is refused in the
// dialog and reaches nobody; a reload shows the topic from the room's opening, as state, not
// as news.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, describeBrowsers, launchBrowser } from './helpers.js';
import { assertNoPageErrors, joinRoom, openChat, send, waitConnected, waitForTexts } from './pages.js';

/** How long the page may take to show something. */
const SHOW_MS = 15_000;

/** The texts of the notices of the room in view. */
function notices(page) {
  return page.$$eval('#messages .notice', (items) => items.map((li) => li.textContent));
}

/** Waits until the room header shows `topic`. */
function headerShows(page, topic) {
  return page.waitForFunction(
    (want) => document.getElementById('room-topic-text').textContent === want,
    topic,
    { timeout: SHOW_MS },
  );
}

/** Opens the Topic dialog and submits `topic`. */
async function setTopic(page, topic) {
  await page.click('#topic-button');
  await page.waitForFunction(() => document.getElementById('topic-dialog').open, null, { timeout: SHOW_MS });
  await page.locator('#topic-input').fill(topic);
  await page.locator('#topic-input').press('Enter');
}

describeBrowsers('room topics on the page', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('a topic set on one page shows on both at once, and after a reload', async () => {
    const ada = await openChat(await launchBrowser(), relay, 'ada');
    const bob = await openChat(await launchBrowser(), relay, 'bob');
    await joinRoom(ada, 'plans');
    await joinRoom(bob, 'plans');
    await bob.locator('#member-list .member-name', { hasText: /^ada$/ }).waitFor({ timeout: SHOW_MS });
    assert.equal(await bob.evaluate(() => document.getElementById('room-topic-text').hidden), true, 'no topic yet');

    // Too long (in bytes: 200 two-byte letters): said in the dialog, nothing sent.
    await setTopic(ada, 'é'.repeat(200));
    await ada.locator('#topic-error', { hasText: /./ }).waitFor({ timeout: SHOW_MS });
    assert.equal(await ada.evaluate(() => document.getElementById('topic-dialog').open), true);
    await ada.click('#topic-cancel');

    await setTopic(ada, 'Ship on Friday');
    await headerShows(bob, 'Ship on Friday');
    await headerShows(ada, 'Ship on Friday');
    // The dialog closes on the relay's answer, which may come just after the room's stream
    // brought the topic.
    await ada.waitForFunction(() => !document.getElementById('topic-dialog').open, null, { timeout: SHOW_MS });
    await bob.locator('#messages .notice', { hasText: 'ada set the topic: Ship on Friday' }).waitFor({ timeout: SHOW_MS });
    await ada.locator('#messages .notice', { hasText: 'You set the topic: Ship on Friday' }).waitFor({ timeout: SHOW_MS });
    assert.match(await bob.locator('#room-topic').textContent(), /^Ship on Friday · 2 people here$/);

    // A message after it: by then every line the change brought is shown, once; the too
    // long topic brought none.
    await send(ada, 'after the topic');
    await waitForTexts(bob, ['after the topic']);
    const lines = (await notices(bob)).filter((t) => t.includes('topic'));
    assert.deepEqual(lines, ['ada set the topic: Ship on Friday']);

    // A reload: the topic comes with the room's opening, and is not news.
    await bob.reload();
    await waitConnected(bob);
    await headerShows(bob, 'Ship on Friday');
    await waitForTexts(bob, ['after the topic']);
    assert.deepEqual((await notices(bob)).filter((t) => t.includes('topic is now')), []);

    // Cleared: the header goes back to the head count alone.
    await setTopic(bob, '');
    await ada.locator('#messages .notice', { hasText: 'bob cleared the topic' }).waitFor({ timeout: SHOW_MS });
    await headerShows(ada, '');
    assert.match(await ada.locator('#room-topic').textContent(), /^2 people here$/);

    await assertNoPageErrors(ada);
    await assertNoPageErrors(bob);
  });
});
