// Protocol version 2 in the JavaScript codec: its constants against the Rust crate's, and
// room frames of a later version (an unknown frame type or entry kind) passed over.
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as codec from '../js/codec.js';

const { ClientFrame, FrameReader, RoomFrame, ServerFrame, encodeFrame } = codec;

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));

describe('log entries (version 2)', () => {
  test('constants agree with the Rust crate', () => {
    assert.equal(codec.MIN_PROTOCOL_VERSION, vectors.min_protocol_version);
    assert.equal(codec.MAX_EDITS, vectors.max_edits);
    assert.deepEqual([...codec.REACTIONS], vectors.reactions);
  });

  test('there are room frames of a later version to pass over', () => {
    assert.ok(vectors.skipped.length >= 2);
  });

  const open = encodeFrame(RoomFrame, { Open: { room: 'lobby', epoch: 1 } });
  for (const v of vectors.skipped) {
    test(`${v.name} is passed over on a room stream, and the next frame read`, () => {
      const reader = new FrameReader(RoomFrame);
      reader.push(fromHex(v.hex));
      assert.equal(reader.nextFrame(), undefined);
      reader.push(fromHex(v.hex));
      reader.push(open);
      assert.deepEqual([...reader], [{ Open: { room: 'lobby', epoch: 1 } }]);
      reader.finish();
    });

    test(`${v.name} is still an error on a control stream`, () => {
      const reader = new FrameReader(ServerFrame);
      reader.push(fromHex(v.hex));
      assert.throws(() => reader.nextFrame(), (e) => e instanceof codec.CodecError);
    });
  }

  test('a truncated entry is an error, not passed over', () => {
    const whole = encodeFrame(RoomFrame, {
      Entry: { room: 'r', seq: 1, epoch: 1, from: 'a', ts: 1, body: { Delete: { target: 1 } } },
    });
    const body = whole.subarray(4, whole.length - 1);
    const reader = new FrameReader(RoomFrame);
    reader.push(Uint8Array.from([0, 0, 0, body.length, ...body]));
    assert.throws(() => reader.nextFrame(), (e) => e instanceof codec.CodecError && e.code === 'BAD_FRAME');
  });

  test('client frames of version 2 are known types', () => {
    const bytes = encodeFrame(ClientFrame, { Delete: { id: 1, room: 'r', seq: 2 } });
    assert.deepEqual([...new FrameReader(ClientFrame)].length, 0);
    const reader = new FrameReader(ClientFrame);
    reader.push(bytes);
    assert.deepEqual(reader.nextFrame(), { Delete: { id: 1, room: 'r', seq: 2 } });
  });
});
