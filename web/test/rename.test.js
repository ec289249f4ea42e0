// Version 3's rename in the JavaScript codec and the page's model: the three frames against
// the Rust crate's vectors, a room's Renamed read (not passed over) while a later room frame
// type still is, the room's members after a rename, and a live rename updating the
// connection's nick. Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as codec from '../js/codec.js';
import { Room } from '../js/rooms.js';
import { canRename, renameLive } from '../js/rename.js';

const { ClientFrame, FrameReader, RoomFrame, ServerFrame, encodeFrame } = codec;

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
const vector = (name) => vectors.valid.find((v) => v.name === name);

describe('rename frames (version 3)', () => {
  test('the protocol version is 3, as in the Rust crate', () => {
    assert.equal(codec.PROTOCOL_VERSION, 3);
    assert.equal(vectors.protocol_version, 3);
  });

  for (const [name, type, value] of [
    ['rename', ClientFrame, { Rename: { id: 17, nick: 'grace' } }],
    ['rename-unicode', ClientFrame, { Rename: { id: 300, nick: 'Zoë' } }],
    ['renamed', ServerFrame, { Renamed: { id: 17, nick: 'grace' } }],
    ['room-renamed', RoomFrame, { Renamed: { from: 'ada', to: 'Zoë' } }],
  ]) {
    test(`${name} encodes to the Rust bytes and decodes back`, () => {
      const v = vector(name);
      assert.ok(v, `vector ${name}`);
      assert.equal(Buffer.from(encodeFrame(type, value)).toString('hex'), v.hex);
      const reader = new FrameReader(type);
      reader.push(fromHex(v.hex));
      assert.deepEqual([...reader], [value]);
    });
  }

  test('a room stream reads Renamed, and still passes over a later frame type', () => {
    const reader = new FrameReader(RoomFrame);
    reader.push(Uint8Array.from([0, 0, 0, 2, 6, 0]));
    reader.push(fromHex(vector('room-renamed').hex));
    assert.deepEqual([...reader], [{ Renamed: { from: 'ada', to: 'Zoë' } }]);
  });

  test('a Rename with a nick cut short is an error', () => {
    const whole = fromHex(vector('rename').hex);
    const body = whole.subarray(4, whole.length - 1);
    const reader = new FrameReader(ClientFrame);
    reader.push(Uint8Array.from([0, 0, 0, body.length, ...body]));
    assert.throws(() => reader.nextFrame(), (e) => e instanceof codec.CodecError && e.code === 'BAD_FRAME');
  });
});

describe('renames in the page', () => {
  test('a rename replaces the member, once', () => {
    const room = new Room('lobby');
    room.presence('ada', true);
    room.presence('bob', true);
    assert.equal(room.rename('ada', 'grace'), true);
    assert.deepEqual(room.memberNames('bob'), ['bob', 'grace']);
    assert.equal(room.rename('ada', 'grace'), false, 'told again: nothing changes');
    assert.deepEqual(room.memberNames('bob'), ['bob', 'grace']);
  });

  test('a rename of someone not listed adds the new nick', () => {
    const room = new Room('lobby');
    assert.equal(room.rename('ghost', 'cy'), true);
    assert.deepEqual(room.memberNames(null), ['cy']);
  });

  test('only an open version-3 session renames', () => {
    const conn = (version, isOpen = true) => ({ isOpen, session: { welcome: { version } } });
    assert.equal(canRename(conn(3)), true);
    assert.equal(canRename(conn(2)), false);
    assert.equal(canRename(conn(3, false)), false);
    assert.equal(canRename(null), false);
  });

  test('a live rename sends Rename and later sessions use the nick the relay recorded', async () => {
    const sent = [];
    const conn = {
      nick: 'ada',
      session: { nick: 'ada' },
      request: async (kind, fields) => {
        sent.push([kind, fields]);
        return { id: 1, nick: 'Grace' };
      },
    };
    assert.equal(await renameLive(conn, 'Grace', { guest: false }), 'Grace');
    assert.deepEqual(sent, [['Rename', { nick: 'Grace' }]]);
    assert.equal(conn.nick, 'Grace');
    assert.equal(conn.session.nick, 'Grace');
  });

  test('a refused rename leaves the connection as it was', async () => {
    const conn = {
      nick: 'ada',
      session: { nick: 'ada' },
      request: async () => {
        throw Object.assign(new Error('taken'), { code: 21 });
      },
    };
    await assert.rejects(renameLive(conn, 'eve', { guest: false }));
    assert.equal(conn.nick, 'ada');
    assert.equal(conn.session.nick, 'ada');
  });
});
