// A rename on the page (protocol version 3) in headless Chromium and Firefox against a real
// relay: the nick dialog's new nick goes as Rename on the live session, the other page shows
// "OLD is now known as NEW" once (no leave and no join) and its member list follows, a
// reload comes back under the new nick with the secret that holds it, and a nick another
// secret holds is refused in the dialog with the old nick kept.

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

describeBrowsers('renames on the page', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('a page renames, and the other page shows it once and lists the new nick', async () => {
    const ada = await openChat(await launchBrowser(), relay, 'ada');
    const bob = await openChat(await launchBrowser(), relay, 'bob');
    await joinRoom(ada, 'names');
    await joinRoom(bob, 'names');
    await bob.locator('#member-list .member-name', { hasText: /^ada$/ }).waitFor();
    const before = await notices(bob);
    // Every connection state ada's page passes through from here on.
    await ada.evaluate(() => {
      const status = document.getElementById('conn-status');
      window.renameStates = [];
      new MutationObserver(() => window.renameStates.push(status.dataset.state))
        .observe(status, { attributes: true, attributeFilter: ['data-state'] });
    });

    await ada.click('#nick-button');
    await ada.waitForFunction(() => document.getElementById('nick-dialog').open, null, { timeout: SHOW_MS });
    await ada.locator('#nick-input').fill('grace');
    await ada.locator('#nick-input').press('Enter');

    await bob.locator('#messages .notice', { hasText: 'ada is now known as grace' }).waitFor({ timeout: SHOW_MS });
    await bob.locator('#member-list .member-name', { hasText: /^grace$/ }).waitFor({ timeout: SHOW_MS });
    await ada.locator('#messages .notice', { hasText: 'You are now grace' }).waitFor({ timeout: SHOW_MS });
    assert.equal(await ada.locator('#nick-label').textContent(), 'grace');

    // A message from the new nick: by then every notice the rename brought is shown.
    await send(ada, 'hello as grace');
    await waitForTexts(bob, ['hello as grace']);
    const fresh = (await notices(bob)).slice(before.length);
    assert.deepEqual(fresh.filter((t) => t.includes('grace')), ['ada is now known as grace'],
      `one rename line, no leave or join: ${JSON.stringify(fresh)}`);
    const members = await bob.$$eval('#member-list .member-name', (items) => items.map((i) => i.textContent));
    assert.deepEqual(members.sort(), ['bob', 'grace']);

    // The renamed page never left its session.
    const states = await ada.evaluate(() => window.renameStates);
    assert.ok(states.every((s) => s === 'open'), `no reconnect: ${JSON.stringify(states)}`);
    // A reload comes back as grace: the secret that holds the new nick was kept under it.
    assert.equal(await ada.evaluate(() => localStorage.getItem('chitchat:guest:grace')),
      await ada.evaluate(() => localStorage.getItem('chitchat:guest:ada')));
    await ada.reload();
    await waitConnected(ada);
    assert.equal(await ada.locator('#nick-label').textContent(), 'grace');
    await ada.locator('#member-list .member-name', { hasText: /^grace$/ }).waitFor({ timeout: SHOW_MS });

    // bob asks for the nick grace's secret holds: refused, he stays bob, the dialog says why.
    await bob.click('#nick-button');
    await bob.waitForFunction(() => document.getElementById('nick-dialog').open, null, { timeout: SHOW_MS });
    await bob.locator('#nick-input').fill('grace');
    await bob.locator('#nick-input').press('Enter');
    await bob.waitForFunction(
      () => document.getElementById('nick-dialog').open && !document.getElementById('nick-error').hidden,
      null,
      { timeout: SHOW_MS },
    );
    assert.match(await bob.locator('#nick-error').textContent(), /Someone else keeps that nick/);
    assert.equal(await bob.locator('#nick-label').textContent(), 'bob');
    assert.equal(await bob.locator('#nick-input').inputValue(), 'bob');
    await waitConnected(bob);

    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });
});
