// The page's bugs found by trying it as a user would, each checked as that user: a room with
// history opens at its newest message and stays there; every screen passes axe-core (WCAG AA
// contrast, accessible names that contain the visible label) in light and dark; on a phone
// the closed rooms button says other rooms have news; a send the relay cannot store yet is
// sent again by itself; Leave is labelled and can be undone.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { DESKTOP, PHONE, Relay, cleanup, cli, describeBrowsers, launchBrowser, waitFor } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  joinRoom,
  messages,
  openChat,
  send,
  showRoom,
  waitConnected,
  waitForTexts,
  waitJoined,
} from './pages.js';

/**
 * axe-core's browser build, run in the page under test as a script of the test's (the page's
 * Content-Security-Policy lets it load no script of its own choosing).
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Makes axe-core available in `page` (once per document). */
async function injectAxe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.raw.evaluate(AXE_SOURCE);
}

/** Findings of these impacts fail a screen. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

/** WCAG AA for text smaller than 18.66 px bold or 24 px: everything the page writes small. */
const AA_TEXT = 4.5;

/** Within this many pixels of the end counts as showing the newest message (subpixel rounding). */
const AT_END_PX = 2;

/**
 * A relay refusing every send with STORAGE_FULL: more megabytes must stay free on its data
 * dir's file system than any machine has.
 */
const ALWAYS_FULL_MB = '1000000000';

/**
 * An idle page takes a frozen relay for dead within this: about 3.4 s by its liveness pings
 * (web/js/liveness.js), with plenty of room for a loaded machine; without them the browser
 * waits out QUIC's idle timeout (30 s). A frozen process sends nothing, not even the ICMP
 * "port unreachable" a killed one leaves behind, so only the page's own check can tell.
 */
const FROZEN_NOTICED_MS = 15_000;

/** Resolves once no CSS transition runs (the themes and drawers animate their colours and moves). */
function settled(page) {
  return page.waitForFunction(() =>
    document.getAnimations().every((a) => !(a instanceof CSSTransition) || a.playState !== 'running'),
  );
}

/**
 * Runs axe-core on the page as it is, in light and in dark, and fails on any serious or
 * critical finding; `label-content-name-mismatch` (WCAG 2.5.3, experimental in axe) is on.
 */
async function assertAccessible(page, screen) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await settled(page);
    await injectAxe(page);
    const found = await page.evaluate(async () => {
      const result = await window.axe.run(document, { rules: { 'label-content-name-mismatch': { enabled: true } } });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
      }));
    });
    const failing = found.filter((v) => FAILING_IMPACTS.has(v.impact));
    assert.deepEqual(
      failing,
      [],
      `axe-core on ${screen} (${scheme}):\n${failing.map((v) => `${v.id} (${v.impact})\n  ${v.nodes.join('\n  ')}`).join('\n')}`,
    );
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/**
 * The contrast of each element matching `selector` against what is behind it, as axe-core
 * computes it (alpha, stacked backgrounds and all): [{text, ratio}].
 */
async function contrasts(page, selector) {
  await injectAxe(page);
  return page.evaluate((sel) => {
    const { color } = window.axe.commons;
    window.axe.setup(document);
    try {
      return [...document.querySelectorAll(sel)].map((el) => {
        const bg = color.getBackgroundColor(el, []);
        const fg = color.getForegroundColor(el, false, bg);
        return { text: el.textContent.trim().slice(0, 40), ratio: bg && fg ? color.getContrast(bg, fg) : null };
      });
    } finally {
      window.axe.teardown();
    }
  }, selector);
}

/** Asserts each element matching `selector` has text contrast of WCAG AA at least (and that there are some). */
async function assertContrast(page, selector, what) {
  const list = await contrasts(page, selector);
  assert.ok(list.length > 0, `no ${what} on the page (${selector})`);
  for (const { text, ratio } of list) {
    assert.ok(ratio !== null && ratio >= AA_TEXT, `${what} "${text}": contrast ${ratio?.toFixed(2)}:1, below ${AA_TEXT}:1`);
  }
}

/** Waits until the room in view shows its newest message in full, with nothing left below. */
async function waitAtNewest(page, what) {
  try {
    await page.waitForFunction(
      (slack) => {
        const box = document.getElementById('messages');
        const last = [...box.querySelectorAll('.msg')].at(-1);
        return last &&
          box.scrollHeight - box.scrollTop - box.clientHeight <= slack &&
          last.getBoundingClientRect().bottom <= box.getBoundingClientRect().bottom + slack;
      },
      AT_END_PX,
      { timeout: 10_000 },
    );
  } catch (e) {
    const gap = await page.evaluate(() => {
      const box = document.getElementById('messages');
      return box.scrollHeight - box.scrollTop - box.clientHeight;
    });
    throw new Error(`${what}: the newest message is ${gap} px below the view`, { cause: e });
  }
}

/** The jump button's words, or null while it is hidden. */
function jumpText(page) {
  return page.evaluate(() => {
    const jump = document.getElementById('jump');
    return jump.hidden ? null : jump.textContent.trim();
  });
}

/** How many times the relay refused with `code`, from its /metrics. */
async function refusals(relay, code) {
  const text = await (await fetch(`http://[::1]:${relay.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`chitchat_errors_total{code="${code}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describeBrowsers('the page as a user finds it', () => {
  let relay;

  before(async () => {
    relay = await new Relay().start();
  });

  after(cleanup);

  test('a room with history opens at its newest message, and stays there', async () => {
    // Fewer than a history page: the whole room, with its start drawn above the messages
    // once the page has it (which used to push the newest messages out of view).
    const texts = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    await cli(relay, 'seed', ['chat', 'history'], { input: `${texts.join('\n')}\n` });

    const page = await openChat(await launchBrowser(), relay, 'reader');
    await joinRoom(page, 'history');
    await waitForTexts(page, ['line 1', 'line 30']);
    await page.locator('.room-start').waitFor();
    await waitAtNewest(page, 'desktop, on join');
    assert.equal(await jumpText(page), null, 'no jump button at the newest message');

    await page.setViewportSize(PHONE);
    await waitAtNewest(page, 'phone, after narrowing');
    await page.reload();
    await waitConnected(page);
    await waitForTexts(page, ['line 30']);
    await page.locator('.room-start').waitFor();
    await waitAtNewest(page, 'phone, after a reload');

    // New messages arriving at the bottom stay in view, with no "new messages" button.
    await cli(relay, 'seed', ['send', 'history', 'line 31']);
    await waitForTexts(page, ['line 31']);
    await waitAtNewest(page, 'phone, a new message');
    assert.equal(await jumpText(page), null);

    await page.setViewportSize(DESKTOP);
    await page.reload();
    await waitConnected(page);
    await waitForTexts(page, ['line 31']);
    await page.locator('.room-start').waitFor();
    await waitAtNewest(page, 'desktop, after a reload');

    // Scrolled up: a way back to the newest, which counts what arrives meanwhile.
    await page.evaluate(() => document.getElementById('messages').scrollTo(0, 0));
    await page.waitForFunction(() => !document.getElementById('jump').hidden);
    assert.equal(await jumpText(page), 'Jump to newest');
    await cli(relay, 'seed', ['send', 'history', 'line 32']);
    await waitForTexts(page, ['line 32']);
    await page.waitForFunction(() => document.getElementById('jump').textContent.trim() === '1 new message');
    assert.equal(await page.evaluate(() => document.getElementById('messages').scrollTop), 0, 'the reader stays where they were');
    await page.locator('#jump').click();
    await waitAtNewest(page, 'after the jump button');
    assert.equal(await jumpText(page), null);
    assertOrderedOnce(await messages(page));
    assertNoPageErrors(page);
  });

  test('every main screen passes axe-core in light and dark, and the texts named in the issue keep AA contrast', async () => {
    // First run: the nick dialog.
    const context = await launchBrowser();
    const first = await context.newPage();
    await first.goto(relay.url);
    await first.locator('#nick-dialog').waitFor();
    await assertAccessible(first, 'the first-run dialog');
    await first.close();

    // A conversation: others' names and times, own bubbles with times, a refused message,
    // an unread room.
    const ada = await openChat(context, relay, 'ada');
    await joinRoom(ada, 'contrast');
    await joinRoom(ada, 'elsewhere');
    await showRoom(ada, 'contrast');
    await waitJoined(ada, 'contrast');
    const nicks = ['mira', 'yuki', 'bo', 'cyd', 'dee', 'evan', 'fay', 'gus'];
    for (const nick of nicks) await cli(relay, nick, ['send', 'contrast', `hello from ${nick}`]);
    await send(ada, 'my own message');
    await waitForTexts(ada, ['my own message', 'hello from gus']);
    await cli(relay, 'mira', ['send', 'elsewhere', 'news over here']);
    await ada.locator('.room-link[data-room="elsewhere"] .badge').waitFor();
    await send(ada, 'too long: ' + 'lorem ipsum '.repeat(600));
    await ada.locator('#messages .msg.failed').waitFor();
    await assertAccessible(ada, 'the conversation');

    for (const scheme of ['light', 'dark']) {
      await ada.emulateMedia({ colorScheme: scheme });
      await settled(ada);
      await assertContrast(ada, '#messages .msg:not(.own):not(.continued) .from', `${scheme}: a sender's name`);
      await assertContrast(ada, '#messages .msg:not(.own):not(.continued) time', `${scheme}: a timestamp`);
      await assertContrast(ada, '#messages .msg.own time', `${scheme}: a timestamp in an own bubble`);
      await assertContrast(ada, '#messages .msg.failed .send-error strong', `${scheme}: "Not sent"`);
      // Every hue a nick can get, not only the few above.
      const ratios = await ada.evaluate(async () => {
        const from = document.querySelector('#messages .msg:not(.own):not(.continued) .from');
        const { color } = window.axe.commons;
        const out = [];
        window.axe.setup(document);
        try {
          for (let hue = 0; hue < 360; hue += 5) {
            from.style.setProperty('--hue', String(hue));
            const bg = color.getBackgroundColor(from, []);
            out.push({ hue, ratio: color.getContrast(bg, color.getForegroundColor(from, false, bg)) });
          }
        } finally {
          window.axe.teardown();
        }
        return out;
      });
      const worst = ratios.reduce((a, b) => (b.ratio < a.ratio ? b : a));
      assert.ok(worst.ratio >= AA_TEXT, `${scheme}: a name of hue ${worst.hue} has contrast ${worst.ratio.toFixed(2)}:1`);
    }
    await ada.emulateMedia({ colorScheme: 'light' });
    // The controls named by their visible text.
    const names = await ada.evaluate(() => ({
      nick: document.getElementById('nick-button').getAttribute('aria-label'),
      unread: document.querySelector('.room-link[data-room="elsewhere"]').getAttribute('aria-label'),
    }));
    assert.deepEqual(names, { nick: null, unread: null });

    // Narrow: the drawers, and the nick dialog opened to change the nick.
    await ada.setViewportSize(PHONE);
    await ada.locator('#rooms-toggle').click();
    await ada.locator('#sidebar #join-input').waitFor({ state: 'visible' });
    await assertAccessible(ada, 'the rooms drawer');
    await ada.keyboard.press('Escape');
    await ada.locator('#members-toggle').click();
    await ada.locator('#members .member-name', { hasText: /^ada$/ }).waitFor({ state: 'visible' });
    await assertAccessible(ada, 'the members drawer');
    await ada.keyboard.press('Escape');
    await ada.setViewportSize(DESKTOP);
    await ada.locator('#nick-button').click();
    await ada.locator('#nick-dialog').waitFor();
    await assertAccessible(ada, 'the nick dialog');
    await ada.keyboard.press('Escape');
    await ada.locator('#nick-dialog').waitFor({ state: 'hidden' });

    // Disconnected: the rooms wait for the connection.
    await relay.kill();
    await ada.locator('.room-link[data-room="contrast"][data-state="joining"]').waitFor({ timeout: 10_000 });
    await assertAccessible(ada, 'the page while disconnected');
    for (const scheme of ['light', 'dark']) {
      await ada.emulateMedia({ colorScheme: scheme });
      await settled(ada);
      await assertContrast(ada, '.room-link[data-state="joining"] .room-name', `${scheme}: a room waiting for the connection`);
    }
    await ada.emulateMedia({ colorScheme: 'light' });
    await relay.restart();
    await waitConnected(ada, 40_000);
    assertNoPageErrors(ada);
  });

  test('on a phone, the closed rooms button says other rooms have unread messages', async () => {
    const page = await openChat(await launchBrowser(), relay, 'pocket');
    await joinRoom(page, 'here');
    await joinRoom(page, 'there');
    await showRoom(page, 'here');
    await waitJoined(page, 'here');
    await page.setViewportSize(PHONE);
    const badge = () => page.evaluate(() => {
      const b = document.getElementById('rooms-unread');
      const toggle = document.getElementById('rooms-toggle');
      return { shown: !b.hidden && b.getBoundingClientRect().width > 0, text: b.textContent, name: toggle.getAttribute('aria-label') };
    });
    assert.equal((await badge()).shown, false, 'nothing unread yet');
    // A message in the room in view is read: no count.
    await cli(relay, 'sam', ['send', 'here', 'in view']);
    await waitForTexts(page, ['in view']);
    assert.equal((await badge()).shown, false);

    await cli(relay, 'sam', ['send', 'there', 'one']);
    await cli(relay, 'sam', ['send', 'there', 'two']);
    await page.waitForFunction(() => document.getElementById('rooms-unread').textContent === '2');
    const shown = await badge();
    assert.equal(shown.shown, true);
    assert.equal(shown.name, 'Rooms, 2 unread', 'the accessible name says it, and contains the visible count');

    await showRoom(page, 'there');
    await waitForTexts(page, ['one', 'two']);
    await page.waitForFunction(() => document.getElementById('rooms-unread').hidden);
    assert.equal((await badge()).name, 'Rooms');
    assertNoPageErrors(page);
  });

  test('Leave is labelled at every width and can be undone', async () => {
    const page = await openChat(await launchBrowser(), relay, 'leaver');
    await joinRoom(page, 'stay');
    await joinRoom(page, 'goodbye');
    await cli(relay, 'sam', ['send', 'goodbye', 'before leaving']);
    await waitForTexts(page, ['before leaving']);
    await page.setViewportSize(PHONE);
    const leave = await page.evaluate(() => {
      const b = document.getElementById('leave-button');
      return { text: b.innerText.trim(), name: b.getAttribute('aria-label') };
    });
    assert.equal(leave.text, 'Leave', 'a word, not only an icon, on a phone');
    assert.equal(leave.name, 'Leave #goodbye');

    await page.locator('#leave-button').click();
    const toast = page.locator('.toast', { hasText: 'You left #goodbye.' });
    await toast.waitFor();
    assert.equal(await page.locator('.room-link[data-room="goodbye"]').count(), 0);
    // Said while away; shown after the undo.
    await cli(relay, 'sam', ['send', 'goodbye', 'while away']);
    await toast.locator('button', { hasText: 'Undo' }).click();
    await page.setViewportSize(DESKTOP);
    await waitJoined(page, 'goodbye');
    await waitForTexts(page, ['before leaving', 'while away']);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), ['before leaving', 'while away']);
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });

  test('an idle page notices a frozen relay within seconds, and comes back when it thaws', async () => {
    const page = await openChat(await launchBrowser(), relay, 'watcher');
    await joinRoom(page, 'idle');
    await cli(relay, 'sam', ['send', 'idle', 'before the freeze']);
    await waitForTexts(page, ['before the freeze']);
    const sessions = await page.evaluate(() => document.getElementById('app').dataset.sessions);

    relay.proc.kill('SIGSTOP');
    try {
      await page.waitForFunction(() => document.getElementById('app').dataset.conn !== 'open', null, { timeout: FROZEN_NOTICED_MS });
      await page.locator('#banner', { hasText: 'Connection lost' }).waitFor();
    } finally {
      relay.proc.kill('SIGCONT');
    }
    await waitConnected(page, 40_000);
    assert.notEqual(await page.evaluate(() => document.getElementById('app').dataset.sessions), sessions, 'a new session');
    await cli(relay, 'sam', ['send', 'idle', 'after the thaw']);
    await waitForTexts(page, ['before the freeze', 'after the thaw']);
    assertOrderedOnce(await messages(page));
    assertNoPageErrors(page);
  });
});

describeBrowsers('a relay that cannot store messages', () => {
  let relay;

  before(async () => {
    relay = await new Relay({ extraArgs: ['--min-free-disk-mb', ALWAYS_FULL_MB] }).start();
  });

  after(cleanup);

  test('a send refused for storage is sent again by itself, in plain words, until discarded', async () => {
    const page = await openChat(await launchBrowser(), relay, 'patient');
    await joinRoom(page, 'full');
    const before = await refusals(relay, 'STORAGE_FULL');
    await send(page, 'keep trying');
    const pending = page.locator('#messages .msg.pending', { hasText: 'keep trying' });
    await pending.locator('.send-state[data-tries]').waitFor();
    // Three refusals and counting, with nobody tapping anything.
    await waitFor('the page to send the refused message again by itself', async () => (await refusals(relay, 'STORAGE_FULL')) >= before + 3);
    const state = await page.evaluate(() => {
      const li = document.querySelector('#messages .msg.pending');
      return { state: li.dataset.state, text: li.querySelector('.send-state').textContent, tries: Number(li.querySelector('.send-state').dataset.tries) };
    });
    assert.equal(state.state, 'retrying');
    assert.ok(state.tries >= 3, `tried ${state.tries} times`);
    assert.match(state.text, /Sending again by itself/);
    assert.doesNotMatch(state.text, /redis|MB|disk/i, "the operator's details stay with the operator");
    assert.equal(await page.locator('#messages .msg.failed').count(), 0);

    await pending.locator('button', { hasText: 'Discard' }).click();
    await pending.waitFor({ state: 'detached' });
    // Discarded: no more tries.
    const settledAt = await refusals(relay, 'STORAGE_FULL');
    await page.waitForTimeout(5_000);
    assert.ok((await refusals(relay, 'STORAGE_FULL')) <= settledAt + 1, 'a discarded send is not tried again');
    assertNoPageErrors(page);
  });
});
