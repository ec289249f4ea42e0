// The page's text and nick rules against protocol/vectors/rules.json, the cases the Rust
// rules (protocol/tests/rules.rs) are checked against, so the two cannot drift apart. The
// skeleton cases are the relay's alone: the page has no confusables table.
// Run: node --test web/test/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { validateNick, validateText } from '../js/codec.js';

const rules = JSON.parse(readFileSync(new URL('../../protocol/vectors/rules.json', import.meta.url), 'utf8'));

test('texts follow the shared cases', () => {
  for (const { text, code } of rules.texts) {
    assert.equal(validateText(text, 4096)?.name ?? null, code, JSON.stringify(text));
  }
});

test('nicks follow the shared cases', () => {
  for (const { nick, code } of rules.nicks) {
    assert.equal(validateNick(nick)?.name ?? null, code, JSON.stringify(nick));
  }
});
