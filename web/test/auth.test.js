// The page's reading of a token's expiry (auth.js), which decides when a held token is
// fetched afresh before a session opens with it.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { tokenExpiry } from '../js/auth.js';

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

test('a token says when it expires', () => {
  const token = `${b64url({ alg: 'HS256' })}.${b64url({ sub: 'ada', exp: 1700000000 })}.c2ln`;
  assert.equal(tokenExpiry(token), 1700000000000);
});

test('a token without exp, or not a JWT, says nothing', () => {
  assert.equal(tokenExpiry(`${b64url({ alg: 'HS256' })}.${b64url({ sub: 'ada' })}.c2ln`), null);
  assert.equal(tokenExpiry('not-a-token'), null);
  assert.equal(tokenExpiry(''), null);
});
