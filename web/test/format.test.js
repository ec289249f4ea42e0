// How the page shows message text (no text can draw what looks like another message line),
// the relay's refusals in plain words, and the jump button's words.
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ErrorCode } from '../js/codec.js';
import { displayText, explainError, formatNumber, jumpLabel, mentions, mentionsIn, quoteOf } from '../js/format.js';

test('every line break becomes a newline, so the fold counts it', () => {
  assert.equal(displayText('a\u2028b\u2029c\r\nd\re\u0085f'), 'a\nb\nc\nd\ne\nf');
});

test('bidi controls are dropped and blank runs shortened', () => {
  assert.equal(displayText('abc\u202Efed\u2066x\u2069'), 'abcfedx');
  assert.equal(displayText('hi\n\n\n\n\n\nada 9:41 AM\nfake'), 'hi\n\nada 9:41 AM\nfake');
});

describe('mentions', () => {
  test('an @nick is a mention, wherever it stands in the text', () => {
    assert.deepEqual(mentionsIn('@ada look, and @Bob_2 too'), ['ada', 'Bob_2']);
    assert.deepEqual(mentionsIn('thanks @ada.'), ['ada'], 'a sentence may end after the nick');
    assert.deepEqual(mentionsIn('(@zoë) and @李雷!'), ['zoë', '李雷']);
    assert.deepEqual(mentionsIn('a.b-c @a.b-c_d'), ['a.b-c_d']);
  });

  test('an @ inside a word or an address names nobody', () => {
    assert.deepEqual(mentionsIn('mail me at kim@ada.org'), []);
    assert.deepEqual(mentionsIn('@@ada @ alone @'), []);
    assert.deepEqual(mentionsIn('x@ada'), []);
  });

  test('a mention of the person is found whatever its case, and only a whole nick', () => {
    assert.ok(mentions('hey @ADA', 'ada'));
    assert.ok(!mentions('hey @adam', 'ada'));
    assert.ok(!mentions('hey ada', 'ada'), 'a name without @ is not a mention');
    assert.ok(!mentions('hey @ada', ''));
  });
});

test('ordinary text is kept as it is', () => {
  for (const t of ['hello', 'two\nlines', 'tab\there', 'שלום', 'a\n\nb']) assert.equal(displayText(t), t);
});

describe('errors in plain words', () => {
  test("the relay's word on its store is for its operator: no Redis, no disk figures", () => {
    for (const [code, message] of [
      [ErrorCode.UNAVAILABLE, 'Redis did not answer within 3s'],
      [ErrorCode.UNAVAILABLE, 'Redis is unreachable; the relay is reconnecting'],
      [ErrorCode.INTERNAL, 'history read failed: redis error'],
      [ErrorCode.STORAGE_FULL, "the relay's disk is nearly full (12 MB free, 100 MB must stay free); nothing was stored"],
    ]) {
      const e = explainError(code, message);
      assert.equal(e.detail, null, message);
      assert.doesNotMatch(e.title, /redis|MB/i);
      assert.ok(e.title.length > 10);
    }
  });

  test('numbers in a refusal are written like the counter writes them', () => {
    const e = explainError(ErrorCode.TEXT_TOO_LONG, 'message is 70000 bytes; the most is 4096');
    assert.equal(e.detail, `Message is ${formatNumber(70000)} bytes; the most is ${formatNumber(4096)}.`);
    // Already grouped, decimal, short or inside a word: left alone.
    for (const m of [`message is ${formatNumber(70000)} bytes`, 'version 1.2345', 'wait 300 ms', 'room abc12345']) {
      assert.equal(explainError(ErrorCode.INVALID_REQUEST, m).detail.replace(/\.$/, '').toLowerCase(), m.toLowerCase());
    }
  });
});

test('the jump button says how many new messages wait below, or where it goes', () => {
  assert.equal(jumpLabel(0), 'Jump to newest');
  assert.equal(jumpLabel(1), '1 new message');
  assert.equal(jumpLabel(1234), `${formatNumber(1234)} new messages`);
});

test('the refusals of changes to a message are said in plain words', () => {
  assert.match(explainError(ErrorCode.NOT_AUTHOR, 'not your message').title, /Only the person who wrote a message/);
  assert.match(explainError(ErrorCode.NO_SUCH_MESSAGE, 'no such message').title, /That message is gone/);
  assert.match(explainError(ErrorCode.EDIT_LIMIT, 'edited too often').title, /edited as many times as the relay allows/);
});

test('a reply quotes the start of its original on one line, or says it is deleted', () => {
  assert.equal(quoteOf({ text: 'two\nlines', deleted: false }), 'two lines');
  assert.equal(quoteOf({ text: '', deleted: true }), 'message deleted');
  const long = quoteOf({ text: '😀'.repeat(100), deleted: false });
  assert.equal([...long].length, 81, 'cut at 80 characters, not inside one');
  assert.ok(long.endsWith('…'));
});
