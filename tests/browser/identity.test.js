// Guest nicks on the page (open mode) in headless Chromium and Firefox against a real relay: a nick
// another browser holds is refused in plain words with the two ways on (pick another nick,
// or paste the secret from the other device), the secret offered for copying takes the nick
// on a second browser, and the secret kept in localStorage brings the same nick back after a
// reload.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, describeBrowsers, launchBrowser, watchErrors } from './helpers.js';
import { assertNoPageErrors, openChat, waitConnected } from './pages.js';

/** How long the page may take to show something. */
const SHOW_MS = 15_000;

/** Opens the page in a fresh browser and asks for `nick` in the first-run dialog. */
async function chooseNick(relay, nick) {
  const context = await launchBrowser();
  const page = await context.newPage();
  page.errors = watchErrors(page);
  await page.goto(relay.url);
  await page.waitForFunction(() => document.getElementById('nick-dialog').open, null, { timeout: SHOW_MS });
  await page.evaluate((n) => {
    document.getElementById('nick-input').value = n;
    document.getElementById('nick-form').requestSubmit();
  }, nick);
  return page;
}

/** Waits for the "nick is taken" dialog; returns its words. */
async function takenDialog(page) {
  try {
    await page.waitForFunction(() => document.getElementById('taken-dialog')?.open, null, { timeout: SHOW_MS });
  } catch (e) {
    // Say where the page stood instead, so a failure here can be told apart from the rest.
    const where = await page.evaluate(() => ({
      state: document.getElementById('conn-status').dataset.state,
      status: document.getElementById('conn-status').textContent,
      banner: document.getElementById('banner').hidden ? null : document.getElementById('banner-text').textContent,
      nickDialog: document.getElementById('nick-dialog').open,
    }));
    throw new Error(`no "nick is taken" dialog: ${e.message}; the page: ${JSON.stringify(where)}; errors: ${page.errors.join(' | ')}`);
  }
  return page.evaluate(() => document.getElementById('taken-dialog').textContent);
}

describeBrowsers('guest nicks on the page', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('a taken nick is explained, and the copied secret takes it on another browser', async () => {
    const owner = await openChat(await launchBrowser(), relay, 'kim');

    const other = await chooseNick(relay, 'kim');
    const words = await takenDialog(other);
    for (const said of ['The nick “kim” is taken', 'Someone else is using this nick', 'Pick another nick', 'paste its secret']) {
      assert.ok(words.includes(said), `the dialog says ${JSON.stringify(said)}: ${words}`);
    }
    assert.equal(await other.evaluate(() => document.getElementById('conn-status').dataset.state), 'stopped',
      'a taken nick is not retried');

    // The owner's page offers its secret, from the nick dialog.
    await owner.click('#nick-button');
    await owner.waitForFunction(() => document.getElementById('nick-dialog').open, null, { timeout: SHOW_MS });
    await owner.click('#secret-button');
    await owner.waitForFunction(() => document.getElementById('share-dialog').open, null, { timeout: SHOW_MS });
    const secret = await owner.evaluate(() => document.getElementById('share-secret').value);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, '32 random bytes in base64url');
    assert.equal(await owner.evaluate(() => localStorage.getItem('chitchat:guest:kim')), secret);

    // Something that is not a secret is refused on the page, with words.
    await other.evaluate(() => (document.getElementById('taken-secret').value = 'not one'));
    await other.click('#taken-use-secret');
    await other.waitForFunction(() => !document.getElementById('taken-error').hidden, null, { timeout: SHOW_MS });

    // Pasted on the other browser, it takes the nick there too.
    await other.evaluate((s) => (document.getElementById('taken-secret').value = s), secret);
    await other.click('#taken-use-secret');
    await waitConnected(other);
    assert.equal(await other.evaluate(() => document.getElementById('nick-label').textContent), 'kim');
    assertNoPageErrors(owner);
  });

  test('picking another nick from the dialog connects with it', async () => {
    await openChat(await launchBrowser(), relay, 'lou');
    const page = await chooseNick(relay, 'lou');
    await takenDialog(page);
    await page.click('#taken-other-nick');
    await page.waitForFunction(
      () => document.getElementById('nick-dialog').open && !document.getElementById('nick-error').hidden,
      null,
      { timeout: SHOW_MS },
    );
    await page.evaluate(() => {
      document.getElementById('nick-input').value = 'lou2';
      document.getElementById('nick-form').requestSubmit();
    });
    await waitConnected(page);
    assert.equal(await page.evaluate(() => document.getElementById('nick-label').textContent), 'lou2');
  });

  test('the secret is kept across a reload, so the same nick comes back', async () => {
    const page = await openChat(await launchBrowser(), relay, 'max');
    const secret = await page.evaluate(() => localStorage.getItem('chitchat:guest:max'));
    assert.ok(secret, 'the secret is in localStorage');
    await page.reload();
    await waitConnected(page);
    assert.equal(await page.evaluate(() => document.getElementById('nick-label').textContent), 'max');
    assert.equal(await page.evaluate(() => localStorage.getItem('chitchat:guest:max')), secret);
    assert.equal(await page.evaluate(() => document.getElementById('taken-dialog').open), false);
    assertNoPageErrors(page);
  });
});
