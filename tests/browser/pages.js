// What a person does on the chat page, as test steps: choose a nick, join a room, type and
// send, read the messages shown. Everything goes through the page's visible controls.

import assert from 'node:assert/strict';

import { watchErrors } from './helpers.js';

/** Default deadline for something to appear on the page. */
const SHOW_MS = 15_000;

/**
 * Opens the chat page in `context` (at `url`, by default the relay's page with the
 * context's transport setting), chooses `nick` in the first-run dialog, and waits until the
 * page is connected. Returns the page, with `page.errors` collecting page errors.
 */
export async function openChat(context, relay, nick, { url = pageUrl(context, relay) } = {}) {
  const page = await context.newPage();
  page.errors = watchErrors(page);
  await page.goto(url);
  const dialog = page.locator('#nick-dialog');
  await dialog.waitFor({ state: 'visible', timeout: SHOW_MS });
  await page.locator('#nick-input').fill(nick);
  await page.locator('#nick-input').press('Enter');
  await dialog.waitFor({ state: 'hidden', timeout: SHOW_MS });
  await waitConnected(page);
  return page;
}

/**
 * The relay's page URL for `context`: with `?transport=websocket` when the suite forces the
 * WebSocket (the page remembers the setting, so reloads keep it).
 */
export function pageUrl(context, relay) {
  return context.transport === 'websocket' ? `${relay.url}?transport=websocket` : relay.url;
}

/** The transport the page is connected over ('webtransport' or 'websocket'), once it is. */
export async function transportOf(page, timeout = SHOW_MS) {
  await waitConnected(page, timeout);
  return page.locator('#conn-status[data-state="open"]').getAttribute('data-transport');
}

/** The transport a page of `context` must use: the forced one, else WebTransport. */
export function expectedTransport(context) {
  return context.transport === 'websocket' ? 'websocket' : 'webtransport';
}

/** Waits until the page says it is connected. */
export async function waitConnected(page, timeout = SHOW_MS) {
  await page.locator('#conn-status[data-state="open"]').waitFor({ timeout });
}

/** Joins (or creates) `room` with the sidebar's field and waits until it is joined and shown. */
export async function joinRoom(page, room) {
  const narrow = await page.locator('#rooms-toggle').isVisible();
  if (narrow) await page.locator('#rooms-toggle').click();
  await page.locator('#join-input').fill(room);
  await page.locator('#join-input').press('Enter');
  await waitJoined(page, room);
}

/**
 * Waits until `room` is the room in view and joined (its member count is shown). Its link
 * need not be visible: on a phone the room list is a drawer, closed once the join is asked.
 */
export async function waitJoined(page, room, timeout = SHOW_MS) {
  await page.locator(`.room-link.current[data-room="${room}"][data-state=""]`).waitFor({ state: 'attached', timeout });
  await page.waitForFunction(
    (name) => document.getElementById('room-title').textContent === name &&
      /here$/.test(document.getElementById('room-topic').textContent),
    room,
    { timeout },
  );
}

/** Shows `room` by clicking it in the room list. */
export async function showRoom(page, room) {
  const narrow = await page.locator('#rooms-toggle').isVisible();
  if (narrow) await page.locator('#rooms-toggle').click();
  await page.locator(`.room-link[data-room="${room}"]`).click();
}

/** Types `text` in the composer and presses Enter. */
export async function send(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/**
 * Starts keeping the page's connection states (`#conn-status`: state and text, e.g. why a
 * session ended), which `explained` adds to a failure: what a failed wait or assertion about
 * the page's sessions needs to say.
 */
export async function recordStatuses(page) {
  await page.evaluate(() => {
    const el = document.getElementById('conn-status');
    const trail = (window.statusTrail = []);
    const note = () => {
      const line = `${el.dataset.state}: ${el.textContent.trim()}`;
      if (trail.at(-1)?.line !== line) trail.push({ at: new Date().toISOString().slice(11, 23), line });
    };
    note();
    new MutationObserver(note).observe(el, { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

/** The states kept since `recordStatuses`, a line each. */
async function statusTrail(page) {
  const trail = await page.evaluate(() => window.statusTrail ?? []);
  return trail.map(({ at, line }) => `${at} ${line}`).join('\n');
}

/** Awaits `waiting`; a failure says how the page's connection went (`recordStatuses`). */
export async function explained(page, waiting) {
  try {
    return await waiting;
  } catch (e) {
    e.message += `\nthe connection went:\n${await statusTrail(page).catch(() => '(page gone)')}`;
    throw e;
  }
}

/**
 * Sends `text` and waits until the relay has stored it (the page shows it with its seq):
 * what another sender sends after this is numbered after it.
 */
export async function sendStored(page, text, timeout = SHOW_MS) {
  await send(page, text);
  await waitForTexts(page, [text], timeout);
}

/**
 * The messages of the room in view, in page order: `{seq, from, text, own, state}`
 * (`seq` null and `state` set for own messages not yet confirmed).
 */
export async function messages(page) {
  return page.$$eval('#messages .msg', (items) =>
    items.map((li) => ({
      seq: li.dataset.seq ? Number(li.dataset.seq) : null,
      from: li.dataset.from,
      text: li.querySelector('.text').textContent,
      own: li.classList.contains('own'),
      state: li.dataset.state ?? null,
    })),
  );
}

/** Waits until the room in view shows every text in `texts` as a confirmed message. */
export async function waitForTexts(page, texts, timeout = SHOW_MS) {
  await page.waitForFunction(
    (want) => {
      const shown = new Set(
        [...document.querySelectorAll('#messages .msg[data-seq]')].map((li) => li.querySelector('.text').textContent),
      );
      return want.every((t) => shown.has(t));
    },
    texts,
    { timeout, polling: 50 },
  );
}

/** Asserts the room in view shows each seq once, in increasing order. */
export function assertOrderedOnce(list) {
  const seqs = list.filter((m) => m.seq !== null).map((m) => m.seq);
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `messages out of order or repeated: ${seqs.join(',')}`);
  }
  const texts = list.map((m) => m.text);
  assert.equal(new Set(texts).size, texts.length, `a message is shown twice: ${JSON.stringify(texts)}`);
}

/** Fails if the page reported errors (uncaught exceptions, console errors). */
export function assertNoPageErrors(page) {
  assert.deepEqual(page.errors, [], `the page reported errors:\n${page.errors.join('\n')}`);
}
