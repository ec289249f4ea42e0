// The page opened at an IPv6 literal (http://[::1]:PORT/): its configuration names the relay
// at [::1], and since a Content-Security-Policy source cannot name an IPv6 literal, the
// policy allows that WebTransport URL by its scheme (`https:`); the page connects over
// WebTransport and chats.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Relay, cleanup, cli, describeBrowsers, launchBrowser } from './helpers.js';
import { assertNoPageErrors, assertOrderedOnce, joinRoom, messages, openChat, sendStored, transportOf, waitForTexts } from './pages.js';

describeBrowsers('IPv6 literal host', () => {
  let relay;

  before(async () => {
    relay = await new Relay({ host: '[::1]' }).start();
  });

  after(cleanup);

  test('a page at http://[::1]:PORT chats over WebTransport', async () => {
    const base = `http://[::1]:${relay.httpPort}/`;
    const response = await fetch(base);
    const csp = response.headers.get('content-security-policy');
    assert.match(csp, /connect-src 'self' https: ws:;/, csp);
    assert.doesNotMatch(csp, /\[/, 'no IPv6 literal in the policy');
    const config = await (await fetch(`${base}config.json`)).json();
    assert.deepEqual(config.webtransport, [`https://[::1]:${relay.quicPort}/`]);
    assert.deepEqual(config.websocket, [`ws://[::1]:${relay.httpPort}/ws`]);

    // WebTransport forced: no WebSocket to fall back on if the policy blocked it.
    const page = await openChat(await launchBrowser(), relay, 'six', { url: `${base}?transport=webtransport` });
    assert.equal(await transportOf(page), 'webtransport');
    await joinRoom(page, 'v6');
    await sendStored(page, 'from [::1]');
    await cli(relay, 'cli', ['send', 'v6', 'to [::1]']);
    await waitForTexts(page, ['from [::1]', 'to [::1]']);
    const list = await messages(page);
    assert.deepEqual(list.map((m) => m.text), ['from [::1]', 'to [::1]']);
    assertOrderedOnce(list);
    assertNoPageErrors(page);
  });
});
