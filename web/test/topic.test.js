// A room's topic (version 3's RoomFrame::Topic) in the JavaScript codec and the page: the
// frame against the Rust crate's vectors, and what a topic change says in the room's
// timeline (nothing for the topic a room opens with, nor for the same topic told again).
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as codec from '../js/codec.js';
import { topicNotice } from '../js/topic.js';

const { FrameReader, RoomFrame, encodeFrame } = codec;

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
const vector = (name) => vectors.valid.find((v) => v.name === name);

describe('the topic frame', () => {
  for (const [name, value] of [
    ['room-topic', { Topic: { topic: 'Release planning, Thursdays', by: 'ada' } }],
    ['room-topic-at-join', { Topic: { topic: 'Zoë\'s room', by: '' } }],
  ]) {
    test(`${name} encodes to the Rust bytes and decodes back`, () => {
      const v = vector(name);
      assert.ok(v, `vector ${name}`);
      assert.equal(Buffer.from(encodeFrame(RoomFrame, value)).toString('hex'), v.hex);
      const reader = new FrameReader(RoomFrame);
      reader.push(fromHex(v.hex));
      assert.deepEqual([...reader], [value]);
    });
  }

  test('a topic frame cut short is an error, not passed over', () => {
    const whole = fromHex(vector('room-topic').hex);
    const body = whole.subarray(4, whole.length - 1);
    const reader = new FrameReader(RoomFrame);
    reader.push(Uint8Array.from([0, 0, 0, body.length, ...body]));
    assert.throws(() => reader.nextFrame(), (e) => e instanceof codec.CodecError && e.code === 'BAD_FRAME');
  });
});

describe('topic changes in the timeline', () => {
  test('the topic a room opens with, or the same one again, is not news', () => {
    assert.equal(topicNotice(null, 'Planning', '', 'ada'), null);
    assert.equal(topicNotice('Planning', 'Planning', '', 'ada'), null);
    assert.equal(topicNotice('Planning', 'Planning', 'bob', 'ada'), null);
  });

  test('a change says who made it, and a cleared topic says so', () => {
    assert.equal(topicNotice('', 'Deploys', 'bob', 'ada'), 'bob set the topic: Deploys');
    assert.equal(topicNotice('Deploys', 'Freeze', 'ada', 'ada'), 'You set the topic: Freeze');
    assert.equal(topicNotice('Deploys', '', 'bob', 'ada'), 'bob cleared the topic');
    // Changed while away, or by the operator's API: nobody named.
    assert.equal(topicNotice('Deploys', 'Freeze', '', 'ada'), 'The topic is now: Freeze');
    assert.equal(topicNotice('Deploys', '', '', 'ada'), 'The topic was cleared');
  });
});
