// The browsers the tests drive: Debian's Chromium (over the DevTools protocol) and Debian's
// Firefox ESR (over WebDriver BiDi), both through puppeteer-core, both headless, neither
// downloaded. The tests speak to pages through a small layer of their own, the same in both
// browsers: `page.locator(selector, {hasText})` with waiting actions (`waitFor`, `click`,
// `fill`, `press`, ...), `page.waitForFunction(fn, arg, {timeout})`, viewport and colour
// scheme changes.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import puppeteer from 'puppeteer-core';

/** Debian's Chromium. */
export const CHROMIUM = process.env.CHITCHAT_CHROMIUM ?? '/usr/bin/chromium';

/** Debian's Firefox ESR (153 or later: more than two server-opened WebTransport streams). */
export const FIREFOX = process.env.CHITCHAT_FIREFOX ?? '/usr/bin/firefox-esr';

/** Where each browser comes from, for the "missing" message. */
const PACKAGES = { chromium: 'chromium', firefox: 'firefox-esr' };

/**
 * Chromium flags: headless, no sandbox (CI runs as root), nothing that talks to the network
 * on its own. QUIC must stay enabled: WebTransport runs on it.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Firefox preferences: nothing that talks to the network on its own, and background tabs
 * not throttled (several pages of one browser are open at once, each must keep its pings
 * and timers on time, as Chromium's flags from puppeteer already ensure).
 */
const FIREFOX_PREFS = {
  'app.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'dom.min_background_timeout_value': 4,
  'dom.timeout.enable_budget_timer_throttling': false,
  'dom.suspend_inactive.enabled': false,
  // `localhost` as ::1 first, as Chromium resolves it: Firefox opens WebTransport (HTTP/3)
  // to the first address only, and the relays under test listen on ::1.
  'network.dns.preferIPv6': true,
};

/** The elements each ARIA role `getByRole` knows covers (native and explicit roles). */
const ROLES = {
  button: 'button, [role="button"], input[type="button"], input[type="submit"]',
  link: 'a[href], [role="link"]',
  textbox: 'input:not([type]), input[type="text"], textarea, [role="textbox"]',
  dialog: 'dialog, [role="dialog"]',
};

/** How long an action waits for its element by default, like the waits in pages.js. */
const ACTION_MS = 15_000;

/** How often a wait re-checks the page. */
const POLL_MS = 50;

/**
 * The running browsers, one per kind (Firefox: per starting colour scheme, a launch
 * preference), shared by every context of this test process: a Firefox takes seconds to
 * start, a context of a running one a fraction of that. Each is a promise, so that contexts
 * asked for at once share one launch.
 */
const running = new Map();

/** Starts `name` headless with a profile directory of its own. */
async function start(name, colorScheme) {
  const executablePath = name === 'firefox' ? FIREFOX : CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(
      `${executablePath} is missing: install Debian's ${PACKAGES[name]} package (apt-get install ${PACKAGES[name]})`,
    );
  }
  const profile = mkdtempSync(path.join(tmpdir(), `chitchat-${name}-`));
  const common = { executablePath, headless: true, userDataDir: profile, defaultViewport: null };
  const launching =
    name === 'firefox'
      ? puppeteer.launch({
          ...common,
          browser: 'firefox',
          // The starting colour scheme; `emulateMedia` changes it on a page later.
          extraPrefsFirefox: {
            ...FIREFOX_PREFS,
            'layout.css.prefers-color-scheme.content-override': colorScheme === 'dark' ? 0 : 1,
          },
        })
      : puppeteer.launch({ ...common, browser: 'chrome', args: CHROMIUM_ARGS });
  try {
    return { browser: await launching, profile };
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/** The running browser of kind `name` for `colorScheme`, started if none is (or it died). */
async function browserFor(name, colorScheme) {
  // Chromium emulates the colour scheme per page, so one Chromium serves both.
  const key = name === 'firefox' ? `firefox-${colorScheme}` : name;
  const known = running.get(key);
  if (known) {
    const { browser } = await known.catch(() => ({}));
    if (browser?.connected) return browser;
    running.delete(key);
  }
  const starting = start(name, colorScheme);
  running.set(key, starting);
  try {
    return (await starting).browser;
  } catch (e) {
    running.delete(key);
    throw e;
  }
}

/** Closes every running browser (and removes its profile); the next `launch` starts anew. */
export async function closeBrowsers() {
  const all = [...running.values()];
  running.clear();
  await Promise.all(
    all.map(async (starting) => {
      let started;
      try {
        started = await starting;
        await started.browser.close();
      } catch {
        // It never started (its profile is gone with it), or is already gone.
      } finally {
        if (started) rmSync(started.profile, { recursive: true, force: true });
      }
    }),
  );
}

/**
 * A fresh browsing context of `name` ('chromium' or 'firefox'), headless: in a browser this
 * process already runs, a context of its own (its own cookies, storage and connections, as
 * a separate profile has). Resolves to a Context: `newPage()` gives pages that share
 * localStorage, as tabs of one browser do.
 */
export async function launch(name, { viewport, colorScheme }) {
  const browser = await browserFor(name, colorScheme);
  const context = await browser.createBrowserContext();
  return new Context(name, context, { viewport, colorScheme });
}

/** One browsing context: a profile of its own in a shared browser. */
class Context {
  constructor(name, context, { viewport, colorScheme }) {
    this.name = name;
    this.context = context;
    this.viewport = viewport;
    this.colorScheme = colorScheme;
    this.closed = false;
    this.onClose = [];
  }

  /**
   * A new page in a window of its own (a tab behind another would not be drawn: Firefox
   * runs no animation frames in a background tab), at the context's viewport and colour
   * scheme.
   */
  async newPage() {
    const raw = await this.context.newPage({ type: 'window' });
    front.set(raw.browser(), raw); // a new window opens in front
    const page = new Page(this, raw);
    await raw.setViewport(this.viewport);
    if (this.name === 'chromium') await page.emulateMedia({ colorScheme: this.colorScheme });
    return page;
  }

  /** Closes the context (every page in it). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.context.close();
    } catch {
      // Its browser is gone: so is the context.
    }
    for (const f of this.onClose) f();
  }

  on(event, f) {
    if (event === 'close') this.onClose.push(f);
  }
}

/** A tab, with the calls the tests make. `raw` is puppeteer's Page. */
class Page {
  constructor(context, raw) {
    this.context = context;
    this.raw = raw;
    this.keyboard = { press: (key) => pressKey(raw, key) };
    this.colorScheme = null;
  }

  on(event, f) {
    this.raw.on(event, f);
  }

  async goto(url) {
    await this.raw.goto(url);
  }

  async reload() {
    await this.raw.reload();
  }

  async close() {
    await this.raw.close();
  }

  /** Elements matching `selector` (and containing `hasText`, a string or RegExp). */
  locator(selector, { hasText } = {}) {
    return new Locator(this, [step(selector, hasText)]);
  }

  evaluate(fn, arg) {
    return this.raw.evaluate(fn, arg);
  }

  /** Clicks the first element matching `selector`, as `locator(selector).click()` does. */
  async click(selector) {
    await this.locator(selector).first().click();
  }

  $$eval(selector, fn, arg) {
    return this.raw.$$eval(selector, fn, arg);
  }

  /** Waits until `fn(arg)` is truthy in the page; resolves to that value. */
  async waitForFunction(fn, arg, { timeout = ACTION_MS, polling = POLL_MS } = {}) {
    const handle = await this.raw.waitForFunction(fn, { timeout, polling }, arg);
    try {
      return await handle.jsonValue();
    } finally {
      await handle.dispose();
    }
  }

  waitForTimeout(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * Resizes the viewport and waits until the page has seen it: in Firefox the resize (and
   * the media queries' change events, which close drawers) comes a frame or two later.
   */
  async setViewportSize(size) {
    await this.raw.setViewport(size);
    await this.raw.waitForFunction((w) => innerWidth === w, { timeout: ACTION_MS, polling: POLL_MS }, size.width);
    await this.raw.evaluate(
      () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
    );
  }

  /**
   * Sets the colour scheme the page's `prefers-color-scheme` rules see. Chromium emulates
   * the media feature; WebDriver BiDi has no such command, so in Firefox the page's own
   * `(prefers-color-scheme: dark)` rules are switched on or off in place (with the root's
   * `color-scheme`, for the browser's own controls). Lasts until the page is reloaded.
   */
  async emulateMedia({ colorScheme }) {
    this.colorScheme = colorScheme;
    if (this.context.name === 'chromium') {
      await this.raw.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: colorScheme }]);
      return;
    }
    await this.raw.evaluate((scheme) => {
      const DARK = '(prefers-color-scheme: dark)';
      const visit = (rules) => {
        for (const rule of rules) {
          if (rule instanceof CSSMediaRule) {
            rule.originalMedia ??= rule.media.mediaText;
            if (rule.originalMedia === DARK) rule.media.mediaText = scheme === 'dark' ? 'all' : 'not all';
          }
          if (rule.cssRules) visit(rule.cssRules);
        }
      };
      for (const sheet of document.styleSheets) visit(sheet.cssRules);
      document.documentElement.style.colorScheme = scheme;
    }, colorScheme);
  }

  async screenshot({ path }) {
    await this.raw.screenshot({ path });
  }
}

/** A locator step: a CSS selector, an optional text filter, an optional index. */
function step(selector, hasText, index = null) {
  const text =
    hasText instanceof RegExp
      ? { source: hasText.source, flags: hasText.flags }
      : hasText === undefined
        ? null
        : { plain: String(hasText) };
  return { selector, text, index };
}

/** Elements of a page found again on every use, as Playwright's locators are. */
class Locator {
  constructor(page, steps) {
    this.page = page;
    this.steps = steps;
  }

  locator(selector, { hasText } = {}) {
    return new Locator(this.page, [...this.steps, step(selector, hasText)]);
  }

  /**
   * Elements inside with ARIA role `role` whose accessible name (aria-label, else text)
   * contains `name`, case-insensitively. The roles the page's controls have.
   */
  getByRole(role, { name } = {}) {
    const selector = ROLES[role];
    if (!selector) throw new Error(`getByRole: no selector for role ${role}`);
    return new Locator(this.page, [...this.steps, { ...step(selector), name: name ?? null }]);
  }

  first() {
    const steps = this.steps.slice();
    const last = steps.pop();
    return new Locator(this.page, [...steps, { ...last, index: 0 }]);
  }

  /**
   * Waits until the first match is `state`: 'visible' (default), 'hidden', 'attached',
   * 'detached', or 'clickable' (visible and the target of a click at its centre).
   */
  async waitFor({ state = 'visible', timeout = ACTION_MS } = {}) {
    try {
      await this.page.raw.waitForFunction(queryInPage, { timeout, polling: POLL_MS }, this.steps, state);
    } catch (e) {
      throw new Error(`waiting for ${this.describe()} to be ${state}: ${e.message}`);
    }
  }

  /** How many elements match now. */
  async count() {
    return this.page.raw.evaluate(queryInPage, this.steps, 'count');
  }

  /** Whether the first match is visible now. */
  async isVisible() {
    return this.page.raw.evaluate(queryInPage, this.steps, 'visible');
  }

  async getAttribute(name) {
    return this.evaluate((el, n) => el.getAttribute(n), name);
  }

  async textContent() {
    return this.evaluate((el) => el.textContent);
  }

  async inputValue() {
    return this.evaluate((el) => el.value);
  }

  /** Runs `fn(element, arg)` in the page on the first match, once there is one. */
  async evaluate(fn, arg) {
    const handle = await this.#handle('attached');
    try {
      return await handle.evaluate(fn, arg);
    } finally {
      await handle.dispose();
    }
  }

  /**
   * Clicks the first match once it is visible and nothing covers it (a drawer sliding away).
   * An element the page replaced between finding it and clicking it (a message drawn again
   * as a reaction arrives) is found again, until the action's deadline: the click had not
   * happened.
   */
  async click() {
    const deadline = Date.now() + ACTION_MS;
    for (;;) {
      let handle;
      try {
        handle = await this.#handle('clickable');
        await handle.click();
        return;
      } catch (e) {
        if (!/not clickable|detached|is gone/i.test(String(e?.message)) || Date.now() > deadline) throw e;
      } finally {
        await handle?.dispose().catch(() => {});
      }
    }
  }

  async focus() {
    await toFront(this.page.raw);
    await this.evaluate((el) => el.focus());
  }

  /** Replaces a field's value, as typing it would (one input event). */
  async fill(text) {
    await this.#handle('visible').then((h) => h.dispose());
    await this.evaluate((el, value) => {
      el.focus();
      el.value = value;
      el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText', data: value }));
    }, text);
  }

  /** Focuses the first match and presses `key` ('Enter', 'Shift+Enter', ...). */
  async press(key) {
    await this.focus();
    await pressKey(this.page.raw, key);
  }

  /** Focuses the first match and types `text` key by key. */
  async pressSequentially(text, { delay = 0 } = {}) {
    await this.focus();
    await this.page.raw.keyboard.type(text, { delay });
  }

  async #handle(state) {
    await this.waitFor({ state });
    const handle = await this.page.raw.evaluateHandle(queryInPage, this.steps, 'element');
    const element = handle.asElement();
    if (!element) {
      await handle.dispose();
      throw new Error(`${this.describe()} is gone`);
    }
    return element;
  }

  describe() {
    return this.steps
      .map(({ selector, text, index, name }) => {
        const filter =
          (text ? ` with text ${text.plain ?? `/${text.source}/${text.flags}`}` : '') + (name ? ` named ${name}` : '');
        return `${selector}${filter}${index === null ? '' : ` [${index}]`}`;
      })
      .join(' >> ');
  }
}

/**
 * Runs in the page (it is sent as source, so it is self-contained): the first element
 * `steps` select (`op` 'element'), how many (`'count'`), or whether the first is in `op`'s
 * state ('visible', 'hidden', 'attached', 'detached', 'clickable'). Each step's selector applies within
 * the previous step's elements; a text filter keeps elements whose textContent matches (a
 * string case-insensitively with whitespace collapsed, or a RegExp), as Playwright's do.
 */
function queryInPage(steps, op) {
  let found = [document];
  for (const { selector, text, index, name } of steps) {
    const next = [];
    for (const root of found) {
      for (const el of root.querySelectorAll(selector)) if (!next.includes(el)) next.push(el);
    }
    const norm = (s) => s.replace(/\s+/g, ' ').trim().toLowerCase();
    const kept = next.filter(
      (el) =>
        (!text ||
          (text.plain !== undefined
            ? norm(el.textContent ?? '').includes(norm(text.plain))
            : new RegExp(text.source, text.flags).test(el.textContent ?? ''))) &&
        (!name || norm(el.getAttribute('aria-label') ?? el.textContent ?? '').includes(norm(name))),
    );
    found = index === null ? kept : kept.slice(index, index + 1);
  }
  const el = found[0];
  const visible = () => {
    if (!el) return false;
    const rect = el.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  // What a click at the element's centre would hit is the element (nothing slides over it).
  const hittable = () => {
    if (!visible()) return false;
    el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    const rect = el.getBoundingClientRect();
    const hit = document.elementFromPoint(rect.x + rect.width / 2, rect.y + rect.height / 2);
    return hit !== null && (hit === el || el.contains(hit));
  };
  switch (op) {
    case 'clickable':
      return hittable();
    case 'element':
      return el ?? null;
    case 'count':
      return found.length;
    case 'attached':
      return Boolean(el);
    case 'detached':
      return !el;
    case 'hidden':
      return !visible();
    default:
      return visible();
  }
}

/** The page each browser last brought to the front. */
const front = new WeakMap();

/**
 * Makes `raw` its browser's active window, as a person does by looking at it before typing:
 * the pages of a browser share one, and Firefox sends keys to an element of an inactive
 * window without acting on them (Enter on a button). A no-op for the page already in front.
 */
async function toFront(raw) {
  const browser = raw.browser();
  if (front.get(browser) === raw) return;
  await raw.bringToFront();
  front.set(browser, raw);
}

/** Presses `key`, with modifiers written 'Shift+Enter'. */
async function pressKey(raw, key) {
  await toFront(raw);
  const parts = key.split('+');
  const main = parts.pop();
  for (const m of parts) await raw.keyboard.down(m);
  await raw.keyboard.press(main);
  for (const m of parts.reverse()) await raw.keyboard.up(m);
}
