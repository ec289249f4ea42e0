// Screenshots of the main screens, desktop and phone width, light and dark, saved to
// test-artifacts/screenshots/ for people to look at. Each screen is also checked for what
// it must show, so a broken screen fails here rather than only looking wrong.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DESKTOP, PHONE, Relay, cleanup, cli, describeBrowsers, launchBrowser, screenshot } from './helpers.js';
import { assertNoPageErrors, joinRoom, openChat, send, showRoom, waitForTexts } from './pages.js';

/** Every theme and width a screen is captured in. */
const LOOKS = [
  { name: 'desktop-light', viewport: DESKTOP, colorScheme: 'light' },
  { name: 'desktop-dark', viewport: DESKTOP, colorScheme: 'dark' },
  { name: 'phone-light', viewport: PHONE, colorScheme: 'light' },
  { name: 'phone-dark', viewport: PHONE, colorScheme: 'dark' },
];

async function capture(page, screen) {
  for (const look of LOOKS) {
    await page.setViewportSize(look.viewport);
    await page.emulateMedia({ colorScheme: look.colorScheme });
    await screenshot(page, `${screen}-${look.name}`);
  }
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ colorScheme: 'light' });
}

describeBrowsers('screens', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('first run, conversation, drawers, a refused message, the empty state', async () => {
    const context = await launchBrowser();
    const page = await context.newPage();
    await page.goto(relay.url);
    await page.locator('#nick-dialog').waitFor();
    await page.locator('#nick-input').fill('has space');
    await page.locator('#nick-input').press('Enter');
    await page.locator('#nick-error').waitFor();
    await capture(page, 'first-run');
    await page.close();

    const theo = await openChat(await launchBrowser(), relay, 'theo');
    await joinRoom(theo, 'design');
    const ada = await openChat(context, relay, 'ada');
    await joinRoom(ada, 'design');
    await cli(relay, 'mira', ['send', 'design', 'Morning all! The new build is on staging.']);
    await send(theo, 'Nice. Did the reconnect fix make it in?');
    await send(ada, 'It did: kill the relay and watch the banner. It resumes each room from the last message it saw.');
    await cli(relay, 'mira', ['send', 'design', 'Tried it twice. Nothing missing, nothing twice.']);
    await send(theo, 'Notes from the review are here: https://example.org/review-notes');
    await send(ada, 'Thanks! Two things for tomorrow:\n1. dark mode contrast on the badges\n2. the phone layout of the member list');
    await joinRoom(ada, 'random');
    await cli(relay, 'mira', ['send', 'random', 'Lunch at 12:30?']);
    await send(ada, 'Count me in.');
    await showRoom(ada, 'design');
    await cli(relay, 'mira', ['send', 'random', 'Booked a table for four.']);
    await ada.locator('.room-link[data-room="random"] .badge', { hasText: '1' }).waitFor();
    await waitForTexts(ada, ['Notes from the review are here: https://example.org/review-notes']);
    await theo.locator('#composer-input').pressSequentially('Sounds good', { delay: 10 });
    await ada.locator('#typing', { hasText: 'theo is typing…' }).waitFor();
    await capture(ada, 'chat');

    // Narrow screens: rooms and members open as drawers.
    await ada.setViewportSize(PHONE);
    await ada.locator('#rooms-toggle').click();
    await ada.locator('#sidebar #join-input').waitFor({ state: 'visible' });
    assert.equal(await ada.locator('#rooms-toggle').getAttribute('aria-expanded'), 'true');
    await screenshot(ada, 'rooms-drawer-phone-light');
    assert.equal(await ada.locator('#main').evaluate((el) => el.inert), true, 'behind the drawer is out of reach');
    await ada.keyboard.press('Escape');
    assert.equal(await ada.evaluate(() => document.activeElement.id), 'rooms-toggle', 'focus returns to the toggle');
    assert.equal(await ada.locator('#main').evaluate((el) => el.inert), false);
    await ada.locator('#members-toggle').click();
    await ada.locator('#members .member-name', { hasText: /^theo$/ }).waitFor({ state: 'visible' });
    await ada.emulateMedia({ colorScheme: 'dark' });
    await screenshot(ada, 'members-drawer-phone-dark');
    await ada.keyboard.press('Escape');
    await ada.emulateMedia({ colorScheme: 'light' });
    await ada.setViewportSize(DESKTOP);

    // A message the relay refuses, shown in place with what to do.
    await send(ada, 'Here is the whole log: ' + 'lorem ipsum '.repeat(400));
    await ada.locator('#messages .msg.failed').waitFor();
    await capture(ada, 'refused');

    // No rooms at all: the empty state invites joining one.
    const lone = await openChat(await launchBrowser(), relay, 'newcomer');
    await lone.locator('#leave-button').click();
    await lone.locator('#empty').waitFor();
    await capture(lone, 'empty');

    assertNoPageErrors(ada);
    assertNoPageErrors(theo);
    assertNoPageErrors(lone);
  });
});
