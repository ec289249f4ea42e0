// Changing sent messages on the page, against a real relay: editing (the Edit action, and Up
// on an empty composer as in Slack; Escape cancels; "(edited)" for everyone), deleting after a
// confirmation (a "message deleted" tombstone for everyone), replying (the composer shows
// what it answers; the reply's quote jumps to the original, fetching older pages if needed),
// reactions (a picker, counts, one's own pressed, toggled, seen by a second page; by
// keyboard too; on a phone-sized page), and a page that was offline (closed, or its relay
// down) while a message was edited and another deleted, which shows both once it is back.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { PHONE, Relay, cleanup, cli, describeBrowsers, launchBrowser, waitFor, watchErrors } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  joinRoom,
  messages,
  openChat,
  send,
  waitConnected,
  waitForTexts,
  waitJoined,
} from './pages.js';

/** Reconnecting after the relay comes back includes backoff waits of a few seconds. */
const RECONNECT_MS = 40_000;

/** The seq of the message of the room in view whose text is `text`, once it is shown. */
async function seqOf(page, text) {
  const find = (t) =>
    [...document.querySelectorAll('#messages .msg[data-seq]')].find(
      (li) => li.querySelector(':scope > .bubble > .text')?.textContent === t,
    )?.dataset.seq ?? null;
  await page.waitForFunction(find, text);
  return Number(await page.evaluate(find, text));
}

/** The message `seq` of the room in view. */
function item(page, seq) {
  return page.locator(`#messages .msg[data-seq="${seq}"]`);
}

/** What message `seq` shows: `{text, edited, deleted, quote, reactions}` (reactions: emoji -> [count, pressed]). */
function shown(page, seq) {
  return item(page, seq).evaluate((li) => ({
    text: li.querySelector(':scope > .bubble > .text').textContent,
    edited: li.querySelector('.meta .edited')?.textContent ?? null,
    deleted: li.classList.contains('deleted'),
    quote: li.querySelector(':scope > .bubble > .quote')?.textContent ?? null,
    actions: li.querySelectorAll('.msg-action').length,
    reactions: Object.fromEntries(
      [...li.querySelectorAll('.reaction')].map((b) => [
        b.dataset.emoji,
        [Number(b.querySelector('.reaction-count').textContent), b.getAttribute('aria-pressed') === 'true'],
      ]),
    ),
  }));
}

/** Waits until message `seq` shows what `want` (a subset of `shown`'s fields) says. */
async function waitShown(page, seq, want, timeout = 15_000) {
  let last;
  await waitFor(`message ${seq} to show ${JSON.stringify(want)}`, async () => {
    last = await shown(page, seq);
    return Object.entries(want).every(([k, v]) => JSON.stringify(last[k]) === JSON.stringify(v));
  }, { timeout }).catch((e) => {
    throw new Error(`${e.message}; it shows ${JSON.stringify(last)}`);
  });
}

/**
 * Runs the action named `name` (its accessible name contains it) on message `seq`: a tap on
 * the message brings out its actions, as on a touch screen (a mouse over it does too).
 */
async function act(page, seq, name) {
  const li = item(page, seq);
  if (!(await li.evaluate((el) => el.classList.contains('actions-open')))) {
    await li.locator(':scope > .bubble > .text').click();
  }
  await li.getByRole('button', { name }).click();
}

/** Reacts to message `seq` with the picker's reaction named `name` ('thumbs up', 'heart', ...). */
async function pickReaction(page, seq, name) {
  await act(page, seq, 'Add a reaction');
  await item(page, seq).locator('.reaction-picker').getByRole('button', { name }).click();
}

/** axe-core's browser build, run in the page as a script of the test's (the page's policy loads none). */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical findings on the room view, in light and then dark: what
 * the new parts (quotes, marks, tombstones, reactions, actions, the picker) must not add.
 */
async function roomViewFindings(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.raw.evaluate(AXE);
  const findings = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    const found = await page.evaluate(async () => {
      const { violations } = await window.axe.run('#room-view', { resultTypes: ['violations'] });
      return violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`));
    });
    findings.push(...found.map((f) => `${colorScheme}: ${f}`));
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return findings;
}

/** Pages of `a` and `b` in `room`, each in a browser of its own (`phone`: b's at phone width). */
async function pair(relay, room, a, b, { phone = false } = {}) {
  const first = await openChat(await launchBrowser(), relay, a);
  const second = await openChat(await launchBrowser(phone ? { viewport: PHONE } : {}), relay, b);
  await joinRoom(first, room);
  await joinRoom(second, room);
  return [first, second];
}

const THUMBS = '\u{1f44d}';
const HEART = '\u{2764}\u{fe0f}';

describeBrowsers('edits, deletes, replies and reactions', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('edit: the Edit action and Up on an empty composer; Escape cancels; everyone sees "(edited)"', async () => {
    const [ada, bob] = await pair(relay, 'edits', 'ada', 'bob');
    await send(ada, 'helo wrld');
    const first = await seqOf(bob, 'helo wrld');
    await seqOf(ada, 'helo wrld');

    // The Edit action puts the text in the composer; Enter saves it.
    await act(ada, first, 'Edit your message');
    const input = ada.locator('#composer-input');
    assert.equal(await input.inputValue(), 'helo wrld');
    await ada.locator('#composer-context', { hasText: 'Editing your message' }).waitFor();
    await input.fill('hello world');
    await input.press('Enter');
    await waitShown(bob, first, { text: 'hello world', edited: '(edited)' });
    await waitShown(ada, first, { text: 'hello world', edited: '(edited)' });
    assert.equal(await input.inputValue(), '', 'the composer is empty again');
    assert.equal(await ada.locator('#composer-context').isVisible(), false);

    // Up on an empty composer edits one's newest message; Escape cancels and keeps it as it was.
    await send(ada, 'second');
    const second = await seqOf(bob, 'second');
    await seqOf(ada, 'second');
    await input.press('ArrowUp');
    assert.equal(await input.inputValue(), 'second');
    await input.press('Escape');
    assert.equal(await input.inputValue(), '');
    assert.equal(await ada.locator('#composer-context').isVisible(), false);
    // Up with a draft in the box moves the caret, as anywhere else: the draft stays.
    await input.fill('a draft');
    await input.press('ArrowUp');
    assert.equal(await input.inputValue(), 'a draft');
    await input.fill('');
    await input.press('ArrowUp');
    await input.fill('second, fixed');
    await input.press('Enter');
    await waitShown(bob, second, { text: 'second, fixed', edited: '(edited)' });
    await waitShown(bob, first, { text: 'hello world' });

    // Others have no Edit or Delete on one's messages; on their own, they do.
    assert.equal(await item(bob, first).getByRole('button', { name: 'Edit' }).count(), 0);
    assert.equal(await item(bob, first).getByRole('button', { name: 'Delete' }).count(), 0);
    assert.equal(await item(ada, first).getByRole('button', { name: 'Delete your message' }).count(), 1);

    // The relay's bound on edits of one message, said in plain words.
    await send(ada, 'edited often');
    const often = await seqOf(ada, 'edited often');
    for (let i = 1; i <= 21; i++) {
      await input.press('ArrowUp');
      await input.fill(`edited often ${i}`);
      await input.press('Enter');
      if (i <= 20) await waitShown(ada, often, { text: `edited often ${i}` });
    }
    await ada.locator('.toast', { hasText: 'Could not edit the message. This message has been edited as many times as the relay allows.' }).waitFor();
    await waitShown(bob, often, { text: 'edited often 20', edited: '(edited)' });
    assertOrderedOnce(await messages(bob));
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });

  test('delete: asked first; the message becomes a tombstone for everyone', async () => {
    const [ada, bob] = await pair(relay, 'deletes', 'dee', 'eve');
    await send(ada, 'keep this');
    await send(ada, 'oops, wrong room');
    const oops = await seqOf(bob, 'oops, wrong room');
    await seqOf(ada, 'oops, wrong room');

    // Cancel keeps it.
    await act(ada, oops, 'Delete your message');
    const dialog = ada.locator('#delete-dialog');
    await dialog.waitFor();
    assert.equal(await ada.locator('#delete-preview').textContent(), 'oops, wrong room');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitShown(ada, oops, { text: 'oops, wrong room', deleted: false });

    // Delete deletes, for everyone.
    await act(ada, oops, 'Delete your message');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor({ state: 'hidden' });
    for (const page of [ada, bob]) {
      await waitShown(page, oops, { text: 'message deleted', deleted: true, edited: null, actions: 0 });
    }
    const keep = await seqOf(bob, 'keep this');
    await waitShown(bob, keep, { deleted: false });

    // An edit emptied asks to delete instead.
    await ada.locator('#composer-input').press('ArrowUp');
    assert.equal(await ada.locator('#composer-input').inputValue(), 'keep this', 'Up skips the deleted message');
    await ada.locator('#composer-input').fill('');
    await ada.locator('#composer-input').press('Enter');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await waitShown(bob, keep, { text: 'keep this', deleted: false });
    assertOrderedOnce(await messages(bob));
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });

  test('reply: the composer shows what it answers; the quote jumps to the original, even one not loaded', async () => {
    const [ada, bob] = await pair(relay, 'replies', 'flo', 'gus', { phone: true });
    await send(bob, 'who brings the cake?');
    const question = await seqOf(ada, 'who brings the cake?');
    // Enough after it that it is out of sight, and past the first history page of a new page.
    await cli(relay, 'hal', ['send', 'replies'], { input: Array.from({ length: 55 }, (_, i) => `filler ${i + 1}`).join('\n') });
    await waitForTexts(ada, ['filler 55']);

    // Reply from the page: the composer says what it answers; Escape (or its button) cancels.
    await act(ada, question, 'Reply to gus');
    const context = ada.locator('#composer-context');
    await context.locator('#composer-context-text', { hasText: 'Replying to gus: who brings the cake?' }).waitFor();
    await ada.locator('#composer-input').press('Escape');
    await context.waitFor({ state: 'hidden' });
    await act(ada, question, 'Reply to gus');
    await context.getByRole('button', { name: 'Cancel reply' }).click();
    await context.waitFor({ state: 'hidden' });
    await act(ada, question, 'Reply to gus');
    await send(ada, 'I do!');
    await context.waitFor({ state: 'hidden' });

    // Both pages show the quote; a click on it on the phone-sized page shows the original.
    const answer = await seqOf(bob, 'I do!');
    await waitShown(bob, answer, { quote: 'In reply to gus: who brings the cake?' });
    await waitShown(ada, answer, { quote: 'In reply to gus: who brings the cake?' });
    await item(bob, answer).locator('.quote').click();
    await waitFor('the original to be shown and focused', () =>
      bob.evaluate((seq) => {
        const li = document.querySelector(`#messages .msg[data-seq="${seq}"]`);
        const box = document.getElementById('messages').getBoundingClientRect();
        const r = li.getBoundingClientRect();
        return li.classList.contains('highlight') && document.activeElement === li && r.top >= box.top && r.bottom <= box.bottom;
      }, question),
    );

    // A reloaded page holds only the newest page: the quote names an earlier message, and a
    // click fetches older pages until the original is there.
    await ada.reload();
    await waitConnected(ada);
    await waitJoined(ada, 'replies');
    await waitForTexts(ada, ['I do!']);
    assert.equal(await ada.locator('#messages .msg[data-seq="' + question + '"]').count(), 0, 'not loaded yet');
    await waitShown(ada, answer, { quote: 'In reply to an earlier message' });
    await item(ada, answer).locator('.quote').click();
    await item(ada, question).locator('.text', { hasText: 'who brings the cake?' }).waitFor();
    await waitShown(ada, answer, { quote: 'In reply to gus: who brings the cake?' });
    await waitFor('the original to be highlighted', () => item(ada, question).evaluate((li) => li.classList.contains('highlight')));

    // A reply whose original is deleted says so; one being written is called off, saying why.
    await act(ada, question, 'Reply to gus');
    await context.waitFor();
    await act(bob, question, 'Delete your message');
    await bob.locator('#delete-dialog').getByRole('button', { name: 'Delete' }).click();
    await waitShown(ada, answer, { quote: 'In reply to gus: message deleted' });
    await ada.locator('#composer-error', { hasText: 'The message you were replying to was deleted.' }).waitFor();
    await context.waitFor({ state: 'hidden' });
    assertOrderedOnce(await messages(ada));
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });

  test('reactions: picked, counted, one’s own pressed, toggled, seen by a second page, by keyboard too', async () => {
    const [ada, bob] = await pair(relay, 'reactions', 'ida', 'jon', { phone: true });
    await send(bob, 'we shipped it');
    const m = await seqOf(ada, 'we shipped it');
    await seqOf(bob, 'we shipped it');

    await pickReaction(ada, m, 'thumbs up');
    await waitShown(ada, m, { reactions: { [THUMBS]: [1, true] } });
    await waitShown(bob, m, { reactions: { [THUMBS]: [1, false] } });

    // The second page adds its own with a click on the count: two, pressed there only.
    await item(bob, m).locator('.reaction', { hasText: THUMBS }).click();
    await waitShown(bob, m, { reactions: { [THUMBS]: [2, true] } });
    await waitShown(ada, m, { reactions: { [THUMBS]: [2, true] } });

    // A click on one's own takes it back.
    await item(ada, m).locator('.reaction', { hasText: THUMBS }).click();
    await waitShown(ada, m, { reactions: { [THUMBS]: [1, false] } });
    await waitShown(bob, m, { reactions: { [THUMBS]: [1, true] } });

    // By keyboard: back from the composer to the newest message's actions, the picker opens
    // on Enter, the arrows move, Enter picks, focus returns to the button.
    await send(bob, 'keyboard next');
    const k = await seqOf(ada, 'keyboard next');
    await ada.locator('#composer-input').press('Shift+Tab');
    const focused = await ada.evaluate(() => ({
      label: document.activeElement.getAttribute('aria-label'),
      seq: document.activeElement.closest('.msg')?.dataset.seq,
      opacity: getComputedStyle(document.activeElement.closest('.msg-actions')).opacity,
    }));
    assert.deepEqual(focused, { label: 'Add a reaction to jon’s message', seq: String(k), opacity: '1' });
    await ada.keyboard.press('Enter');
    await item(ada, k).locator('.reaction-picker').waitFor();
    assert.equal(await ada.evaluate(() => document.activeElement.getAttribute('aria-label')), 'thumbs up');
    await ada.keyboard.press('ArrowRight');
    assert.equal(await ada.evaluate(() => document.activeElement.getAttribute('aria-label')), 'heart');
    await ada.keyboard.press('Enter');
    await waitShown(bob, k, { reactions: { [HEART]: [1, false] } });
    await waitShown(ada, k, { reactions: { [HEART]: [1, true] } });
    assert.equal(await item(ada, k).locator('.reaction-picker').count(), 0);
    assert.match(await ada.evaluate(() => document.activeElement.getAttribute('aria-label')), /^Add a reaction/);
    // Escape closes the picker without reacting.
    await ada.keyboard.press('Enter');
    await item(ada, k).locator('.reaction-picker').waitFor();
    await ada.keyboard.press('Escape');
    await item(ada, k).locator('.reaction-picker').waitFor({ state: 'detached' });
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });

  test('quotes, marks, tombstones, reactions, actions and the picker pass axe-core in light and dark', async () => {
    const [ada, bob] = await pair(relay, 'axe', 'kim', 'lou');
    await send(bob, 'first, to edit');
    await send(bob, 'second, to delete');
    const first = await seqOf(bob, 'first, to edit');
    const second = await seqOf(bob, 'second, to delete');
    await act(bob, first, 'Edit your message');
    await bob.locator('#composer-input').fill('first, edited');
    await bob.locator('#composer-input').press('Enter');
    await act(bob, second, 'Delete your message');
    await bob.locator('#delete-dialog').getByRole('button', { name: 'Delete' }).click();
    await waitShown(ada, second, { deleted: true });
    await waitShown(ada, first, { text: 'first, edited' });
    await act(ada, first, 'Reply to lou');
    await send(ada, 'a reply');
    const reply = await seqOf(bob, 'a reply');
    await pickReaction(ada, reply, 'party');
    await pickReaction(bob, reply, 'eyes');
    await waitShown(ada, reply, { reactions: { '\u{1f389}': [1, true], '\u{1f440}': [1, false] } });
    await act(ada, reply, 'Reply to your message');
    await act(ada, first, 'Add a reaction');
    await item(ada, first).locator('.reaction-picker').waitFor();
    assert.deepEqual(await roomViewFindings(ada), []);
    assert.deepEqual(await roomViewFindings(bob), []);
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });
});

describeBrowsers('changes made while a page was away', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  /** bob's three messages, and ada's page holding them. */
  async function setUp(room) {
    const [ada, bob] = await pair(relay, room, `${room}-ada`, `${room}-bob`);
    const bobContext = bob.context;
    for (const t of ['to be edited', 'to be deleted', 'left alone']) await send(bob, t);
    await waitForTexts(ada, ['to be edited', 'to be deleted', 'left alone']);
    const seqs = {};
    for (const t of ['to be edited', 'to be deleted', 'left alone']) seqs[t] = await seqOf(bob, t);
    return { ada, bob, bobContext, seqs };
  }

  /** bob's changes: an edit, a delete and a new message. */
  async function change(bob, seqs) {
    await act(bob, seqs['to be edited'], 'Edit your message');
    await bob.locator('#composer-input').fill('edited while you were away');
    await bob.locator('#composer-input').press('Enter');
    await waitShown(bob, seqs['to be edited'], { text: 'edited while you were away' });
    await act(bob, seqs['to be deleted'], 'Delete your message');
    await bob.locator('#delete-dialog').getByRole('button', { name: 'Delete' }).click();
    await waitShown(bob, seqs['to be deleted'], { deleted: true });
    await send(bob, 'new while you were away');
    await seqOf(bob, 'new while you were away');
  }

  /** ada's page shows every change, each message once. */
  async function showsAll(ada, seqs) {
    await waitForTexts(ada, ['new while you were away'], RECONNECT_MS);
    await waitShown(ada, seqs['to be edited'], { text: 'edited while you were away', edited: '(edited)' });
    await waitShown(ada, seqs['to be deleted'], { text: 'message deleted', deleted: true });
    await waitShown(ada, seqs['left alone'], { text: 'left alone', edited: null, deleted: false });
    const list = await messages(ada);
    assert.deepEqual(list.map((m) => m.text), ['edited while you were away', 'message deleted', 'left alone', 'new while you were away']);
    assertOrderedOnce(list);
  }

  test('a page closed meanwhile shows the edit and the delete when it is back', async () => {
    const { ada, bob, seqs } = await setUp('closed');
    await ada.goto('about:blank');
    await change(bob, seqs);
    await ada.goto(relay.url);
    await waitConnected(ada);
    await waitJoined(ada, 'closed');
    await showsAll(ada, seqs);
    assertNoPageErrors(ada);
    assertNoPageErrors(bob);
  });

  test('a page whose relay was down meanwhile resumes with the edit and the delete, once each', async () => {
    const { ada, bob, bobContext, seqs } = await setUp('down');
    // bob's guest secret, so bob is bob on another port (another origin) too.
    const saved = await bob.evaluate(() => ({ ...localStorage }));
    await bob.close();
    await relay.kill();
    await ada.locator('#banner', { hasText: 'Reconnecting' }).waitFor({ timeout: RECONNECT_MS });

    // The same store served on other ports: ada's page cannot reach it, bob's can.
    const other = await new Relay({ dataDir: relay.dataDir, certsDir: relay.certsDir }).start();
    const bob2 = await bobContext.newPage();
    bob2.errors = watchErrors(bob2);
    await bob2.goto(other.url);
    await bob2.evaluate((items) => {
      for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v);
    }, saved);
    await bob2.reload();
    await waitConnected(bob2);
    await waitJoined(bob2, 'down');
    await waitForTexts(bob2, ['to be edited', 'to be deleted', 'left alone']);
    await change(bob2, seqs);
    assertNoPageErrors(bob2);
    await bob2.close();
    await other.kill();

    await relay.restart();
    await waitConnected(ada, RECONNECT_MS);
    await showsAll(ada, seqs);
    assertNoPageErrors(ada);
  });
});
