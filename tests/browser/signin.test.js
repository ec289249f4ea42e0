// The page against a relay in token mode (--auth jwt): signing in through a token URL served
// by the test (a small HTTP server that sets a cookie on "login" and, for a request carrying
// it, answers a token minted by `chitchat-relay token`), silent refresh of short-lived tokens
// while messages keep arriving, a token URL down long enough for the session to expire
// (TOKEN_EXPIRED said in plain words, the room resumed once it is back), and the development
// sign-in form.
//
// Steps use page.goto, page.evaluate, page.waitForFunction and page.click only.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';

import { RELAY_BIN, Relay, cleanup, cli, describeBrowsers, launchBrowser, screenshot, tempDir, waitFor } from './helpers.js';
import {
  assertNoPageErrors,
  assertOrderedOnce,
  explained,
  joinRoom,
  messages,
  recordStatuses,
  send,
  waitConnected,
  waitForTexts,
} from './pages.js';

/** Default deadline for something to appear on the page. */
const SHOW_MS = 15_000;

/**
 * A 6 s token expiring, then the page's reconnects backing off (up to 15 s apart) until the
 * token URL answers again: room for both on a loaded machine.
 */
const EXPIRY_MS = 40_000;

/** A fresh HMAC secret file for one relay. */
function secretFile() {
  const file = path.join(tempDir('secret'), 'hmac-secret');
  writeFileSync(file, randomBytes(32).toString('hex'));
  return file;
}

/** A token minted by `chitchat-relay token`. */
function mint(secret, sub, ttl, rooms = ['*=rw']) {
  const args = ['token', '--sub', sub, '--ttl', ttl, '--auth-hmac-secret-file', secret];
  for (const grant of rooms) args.push('--rooms', grant);
  const out = spawnSync(RELAY_BIN, args, { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`chitchat-relay token failed: ${out.stderr}`);
  return out.stdout.trim();
}

/**
 * The operator's side, as small as it gets: POST /login sets a session cookie; GET /token
 * answers `{token}` for a request carrying it (a `ttl` token for `sub`), 401 otherwise, and
 * 503 while `server.down` is set (an outage). CORS lets the relay's page (another port of
 * localhost) call it with its cookies.
 */
async function tokenServer(secret, { sub, ttl }) {
  const server = createServer((req, res) => {
    const origin = req.headers.origin ?? '';
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-allow-credentials', 'true');
    res.setHeader('vary', 'origin');
    if (req.method === 'POST' && req.url === '/login') {
      res.setHeader('set-cookie', 'session=signed-in; Path=/; SameSite=Lax; HttpOnly');
      res.end('ok');
      return;
    }
    if (req.method === 'GET' && req.url === '/token') {
      if (server.down) {
        server.failed += 1;
        res.statusCode = 503;
        res.end('down for maintenance');
        return;
      }
      if (!(req.headers.cookie ?? '').includes('session=signed-in')) {
        server.refused += 1;
        res.statusCode = 401;
        res.end('not signed in');
        return;
      }
      server.issued += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: mint(secret, sub, ttl) }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  server.issued = 0;
  server.refused = 0;
  server.failed = 0;
  server.down = false;
  await new Promise((resolve) => server.listen(0, 'localhost', resolve));
  server.origin = `http://localhost:${server.address().port}`;
  return server;
}

/** Opens the page (no nick dialog in token mode) with its errors collected. */
async function openPage(relay) {
  const context = await launchBrowser();
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  await page.goto(relay.url);
  return page;
}

/** Waits until the sign-in dialog is shown, and returns its message. */
async function signInShown(page) {
  await page.waitForFunction(() => document.getElementById('signin-dialog')?.open === true, null, {
    timeout: SHOW_MS,
  });
  return page.evaluate(() => document.getElementById('signin-reason').textContent);
}

/** The nick the page shows as its own. */
function shownNick(page) {
  return page.evaluate(() => document.getElementById('nick-label').textContent);
}

/** Sessions the page has opened so far (one per Welcome). */
function sessions(page) {
  return page.evaluate(() => Number(document.getElementById('app').dataset.sessions ?? 0));
}

describeBrowsers('signing in', () => {
  const servers = [];
  after(async () => {
    for (const s of servers) s.close();
    await cleanup();
  });

  /** A token server handing out `ttl` tokens for ada, its relay, and the page on it. */
  async function withTokenUrl(ttl) {
    const secret = secretFile();
    const server = await tokenServer(secret, { sub: 'ada', ttl });
    servers.push(server);
    const relay = await new Relay({
      extraArgs: ['--auth', 'jwt', '--auth-hmac-secret-file', secret, '--auth-token-url', `${server.origin}/token`],
    }).start();
    return { secret, server, relay, page: await openPage(relay) };
  }

  /** The person signs in at the operator's site, then tries again on the page. */
  async function signInThere(page, server) {
    await page.evaluate((origin) => fetch(`${origin}/login`, { method: 'POST', credentials: 'include' }), server.origin);
    await page.click('#signin-retry');
    await waitConnected(page);
  }

  test('through a token URL: "Sign in" until the person is signed in there', async () => {
    const { server, page } = await withTokenUrl('1h');
    const reason = await signInShown(page);
    assert.match(reason, /Sign in/);
    assert.ok(server.refused >= 1, 'the token URL was asked, with no cookie yet');
    assert.equal(await page.evaluate(() => document.getElementById('nick-dialog').open), false);

    await signInThere(page, server);
    assert.equal(await page.evaluate(() => document.getElementById('signin-dialog').open), false);
    // The nick is the token's, from Welcome.
    await page.waitForFunction(() => document.getElementById('nick-label').textContent === 'ada');

    await joinRoom(page, 'team');
    await send(page, 'signed in and talking');
    await waitForTexts(page, ['signed in and talking']);
    const [mine] = await messages(page);
    assert.equal(mine.from, 'ada');
    assert.equal(await shownNick(page), 'ada');
    assertNoPageErrors(page);
  });

  test('short-lived tokens are refreshed silently while messages keep arriving', async () => {
    // Each token lives 10 s: the relay warns at once, the page refreshes half way through,
    // leaving a loaded machine seconds for the token URL and the Refresh.
    const { secret, server, relay, page } = await withTokenUrl('10s');
    await signInShown(page);
    await signInThere(page, server);
    await joinRoom(page, 'live');
    await recordStatuses(page);
    const issuedAtStart = server.issued;

    // A writer with a long token sends while three refreshes go by (past the first token's
    // expiry).
    const writer = mint(secret, 'writer', '1h');
    const texts = [];
    for (let round = 0; server.issued < issuedAtStart + 3; round++) {
      const text = `message ${round}`;
      await cli(relay, 'writer', ['--token', writer, 'send', 'live', text]);
      texts.push(text);
      await waitForTexts(page, [text]);
      assert.ok(round < 200, 'the page kept refreshing its token');
    }
    const list = await messages(page);
    assert.deepEqual(
      list.map((m) => m.text),
      texts,
      'every message shown once, in order',
    );
    assertOrderedOnce(list);
    await explained(
      page,
      sessions(page).then((n) => assert.equal(n, 1, 'refreshed on the live session, never reconnected')),
    );
    assertNoPageErrors(page);
  });

  test('a sign-in that expires while the token URL is down is said plainly and resumes after', async () => {
    // Each token lives 6 s: the page's silent refresh comes half way through.
    const { secret, server, relay, page } = await withTokenUrl('6s');
    await signInShown(page);
    await signInThere(page, server);
    await joinRoom(page, 'outage');
    const writer = mint(secret, 'writer', '1h');
    await cli(relay, 'writer', ['--token', writer, 'send', 'outage', 'before the outage']);
    await waitForTexts(page, ['before the outage']);

    // The token URL goes down: the refresh fails, and the relay closes the session with
    // TOKEN_EXPIRED at the token's exp. The page says so in plain words and keeps trying.
    server.down = true;
    await page.waitForFunction(
      () => document.getElementById('signin-dialog')?.open === true &&
        /sign-in expired/.test(document.getElementById('signin-reason').textContent),
      null,
      { timeout: EXPIRY_MS },
    );
    const said = await page.evaluate(() => document.getElementById('signin-reason').textContent);
    assert.match(said, /Your sign-in expired and could not be renewed just now \(the sign-in service answered 503\)/);
    assert.match(said, /keeps trying by itself/);
    assert.equal(await page.evaluate(() => document.getElementById('signin-title').textContent), 'Sign-in expired');
    assert.equal(await page.evaluate(() => document.getElementById('signin-retry').textContent), 'Try again now');
    await screenshot(page, 'signin-expired');
    const metrics = await (await fetch(`http://[::1]:${relay.httpPort}/metrics`)).text();
    assert.match(metrics, /chitchat_errors_total\{code="TOKEN_EXPIRED"\} [1-9]/);
    assert.equal(await sessions(page), 1);

    // Messages sent meanwhile are stored; once the token URL is back the page reconnects by
    // itself, the notice goes, and the room resumes after its last message.
    await cli(relay, 'writer', ['--token', writer, 'send', 'outage', 'during the outage']);
    const failed = server.failed;
    await waitFor('the page to keep asking the token URL', () => server.failed > failed, { timeout: EXPIRY_MS });
    server.down = false;
    await page.waitForFunction(() => document.getElementById('signin-dialog').open === false, null, {
      timeout: EXPIRY_MS,
    });
    await waitConnected(page, EXPIRY_MS);
    assert.equal(await sessions(page), 2, 'one new session, opened by the page itself');
    await cli(relay, 'writer', ['--token', writer, 'send', 'outage', 'after the outage']);
    const all = ['before the outage', 'during the outage', 'after the outage'];
    await waitForTexts(page, all);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), all);
    assert.deepEqual(list.map((m) => m.seq), [1, 2, 3], 'no gap, nothing twice');
    assertNoPageErrors(page);
  });

  test('the development sign-in form asks a name', async () => {
    const secret = secretFile();
    const relay = await new Relay({
      extraArgs: ['--auth', 'jwt', '--auth-hmac-secret-file', secret, '--auth-dev-login'],
    }).start();
    const page = await openPage(relay);
    await signInShown(page);
    assert.equal(await page.evaluate(() => document.getElementById('signin-retry')), null);

    // A name that is not a nick is refused on the page.
    await page.evaluate(() => {
      document.getElementById('signin-name').value = 'no spaces allowed';
    });
    await page.click('#signin-submit');
    await page.waitForFunction(() => !document.getElementById('signin-error').hidden);
    assert.equal(await page.evaluate(() => document.getElementById('signin-dialog').open), true);

    await page.evaluate(() => {
      document.getElementById('signin-name').value = 'grace';
    });
    await page.click('#signin-submit');
    await waitConnected(page);
    await page.waitForFunction(() => document.getElementById('nick-label').textContent === 'grace');
    await joinRoom(page, 'dev');
    const token = mint(secret, 'reader', '1h');
    await cli(relay, 'reader', ['--token', token, 'send', 'dev', 'hello grace']);
    await waitForTexts(page, ['hello grace']);
    assertNoPageErrors(page);
  });
});
