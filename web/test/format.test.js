// How the page shows message text: no text can draw what looks like another message line.
// Run: node --test web/test/

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { displayText } from '../js/format.js';

test('every line break becomes a newline, so the fold counts it', () => {
  assert.equal(displayText('a\u2028b\u2029c\r\nd\re\u0085f'), 'a\nb\nc\nd\ne\nf');
});

test('bidi controls are dropped and blank runs shortened', () => {
  assert.equal(displayText('abc\u202Efed\u2066x\u2069'), 'abcfedx');
  assert.equal(displayText('hi\n\n\n\n\n\nada 9:41 AM\nfake'), 'hi\n\nada 9:41 AM\nfake');
});

test('ordinary text is kept as it is', () => {
  for (const t of ['hello', 'two\nlines', 'tab\there', 'שלום', 'a\n\nb']) assert.equal(displayText(t), t);
});
