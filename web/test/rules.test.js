// The page's text, nick and room rules against protocol/vectors/rules.json, the cases the Rust
// rules (protocol/tests/rules.rs) are checked against, so the two cannot drift apart. The
// skeleton cases are the relay's alone: the page has no confusables table.
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { dmMembers, dmRoom, validateNick, validateRoom, validateText, validateTopic } from '../js/codec.js';

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

test('rooms follow the shared cases', () => {
  for (const { room, code } of rules.rooms) {
    assert.equal(validateRoom(room)?.name ?? null, code, JSON.stringify(room));
    if (room.startsWith('@')) assert.equal(dmMembers(room) !== null, code === null, JSON.stringify(room));
  }
});

test('a direct-message room name is made in order, each nick once', () => {
  assert.equal(dmRoom(['bob', 'alice', 'bob']), '@alice+bob');
  assert.deepEqual(dmMembers('@alice+bob'), ['alice', 'bob']);
  assert.equal(dmMembers('lobby'), null);
  assert.match(validateRoom('@bob+alice').message, /@alice\+bob/);
});

describe('topics (as protocol/src/validate.rs validate_topic)', () => {
  test('empty or one line of at most MAX_TOPIC_BYTES, with the rules of a text', () => {
    for (const ok of ['', 'Deploys and incidents', "Zoë's 🎸 room", 't'.repeat(256)]) {
      assert.equal(validateTopic(ok), null, ok);
    }
    for (const [bad, code] of [['two\nlines', 'INVALID_TEXT'], ['   ', 'INVALID_TEXT'], ['bidi \u202e', 'INVALID_TEXT'], ['t'.repeat(257), 'TEXT_TOO_LONG']]) {
      const problem = validateTopic(bad);
      assert.equal(problem?.name, code, JSON.stringify(bad));
      assert.match(problem.message, /topic/);
    }
  });
});
