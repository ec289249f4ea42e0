// Version 3's read markers in the JavaScript codec and the page's model: the two frames
// against the Rust crate's vectors, the debounced MarkRead (one per room per pause, never
// backwards, stopped by a refusal), and a marker from another device dropping a room's
// unread messages up to it. Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as codec from '../js/codec.js';
import { Room } from '../js/rooms.js';
import { ReadMarkers, applyMarker, canMark, markSeen, readUpTo } from '../js/markers.js';

const { ClientFrame, FrameReader, ServerFrame, encodeFrame } = codec;

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
const vector = (name) => vectors.valid.find((v) => v.name === name);

/** Timers the test fires by hand. */
function manualTimers() {
  const due = [];
  return {
    due,
    setTimeout(fn) {
      due.push(fn);
      return due.length;
    },
    clearTimeout() {
      due.length = 0;
    },
    fire() {
      const fns = due.splice(0);
      for (const fn of fns) fn();
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('read marker frames (version 3)', () => {
  for (const [name, type, value] of [
    ['mark-read', ClientFrame, { MarkRead: { id: 21, room: 'lobby', seq: 300 } }],
    ['read-marker', ServerFrame, { ReadMarker: { id: 21, room: 'lobby', seq: 300 } }],
    ['read-marker-other-device', ServerFrame, { ReadMarker: { id: 0, room: 'lobby', seq: 70000 } }],
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
});

describe('marking rooms read', () => {
  test('reads within a pause send one MarkRead per room, with the newest seq', async () => {
    const timers = manualTimers();
    const sent = [];
    const markers = new ReadMarkers({ send: (room, seq) => (sent.push([room, seq]), { room, seq }), timers });
    markers.read('lobby', 3);
    markers.read('lobby', 5);
    markers.read('lobby', 4);
    markers.read('team', 2);
    assert.deepEqual(sent, [], 'nothing before the pause');
    assert.equal(timers.due.length, 1, 'one timer for every room');
    timers.fire();
    assert.deepEqual(sent, [['lobby', 5], ['team', 2]]);
    await settle();
    markers.read('lobby', 5);
    markers.read('lobby', 2);
    assert.equal(timers.due.length, 0, 'nothing new to mark');
  });

  test('a marker heard from another device is not sent back', () => {
    const timers = manualTimers();
    const sent = [];
    const markers = new ReadMarkers({ send: (room, seq) => sent.push([room, seq]), timers });
    markers.heard('lobby', 9);
    markers.read('lobby', 9);
    markers.read('lobby', 7);
    timers.fire();
    assert.deepEqual(sent, []);
  });

  test('a refusal (no user to keep markers for) stops the requests', async () => {
    const timers = manualTimers();
    let calls = 0;
    const markers = new ReadMarkers({
      send: () => {
        calls += 1;
        return Promise.reject(Object.assign(new Error('no'), { codeName: 'FORBIDDEN' }));
      },
      timers,
    });
    markers.read('lobby', 1);
    timers.fire();
    await settle();
    markers.read('lobby', 2);
    timers.fire();
    assert.equal(calls, 1);
    markers.stop();
    markers.read('lobby', 3);
    timers.fire();
    assert.equal(calls, 2, 'a new session asks again');
  });

  test('only an open version-3 session keeps markers', () => {
    assert.equal(canMark(null), false);
    assert.equal(canMark({ isOpen: true, session: { welcome: { version: 2 } } }), false);
    assert.equal(canMark({ isOpen: false, session: { welcome: { version: 3 } } }), false);
    assert.equal(canMark({ isOpen: true, session: { welcome: { version: 3 } } }), true);
  });
});

describe('markers from other devices', () => {
  test('a marker drops the unread messages up to it, and later ones still count', () => {
    const room = new Room('lobby');
    room.countUnread(4);
    room.countUnread(5, true);
    room.countUnread(6);
    assert.equal(readUpTo(room, 5), true);
    assert.deepEqual([room.unread, room.mentions, room.firstUnread], [1, 0, 6]);
    assert.equal(readUpTo(room, 5), false, 'the same marker changes nothing');
    room.countUnread(3);
    assert.equal(room.unread, 1, 'a message at or below the marker is read already');
    room.countUnread(7);
    assert.equal(readUpTo(room, 9), true);
    assert.deepEqual([room.unread, room.mentions, room.firstUnread], [0, 0, null]);
  });

  test('applying a marker redraws the badges; an unknown room is ignored', () => {
    const room = new Room('lobby');
    room.countUnread(1);
    let drawn = 0;
    const app = {
      rooms: new Map([['lobby', room]]),
      markers: new ReadMarkers({ send: () => null, timers: manualTimers() }),
      sidebar: { renderRoomList: () => (drawn += 1) },
      status: { renderTitle: () => (drawn += 1) },
    };
    applyMarker(app, { room: 'elsewhere', seq: 3 });
    assert.equal(drawn, 0);
    applyMarker(app, { room: 'lobby', seq: 1 });
    assert.equal(room.unread, 0);
    assert.equal(drawn, 2);
    assert.equal(app.markers.known.get('lobby'), 1);
  });

  test('the room in view on a visible page is marked up to its newest seq', () => {
    const timers = manualTimers();
    const sent = [];
    const room = new Room('lobby');
    room.lastSeq = 12;
    const app = {
      active: 'lobby',
      conn: { isOpen: true, session: { welcome: { version: 3 } } },
      markers: new ReadMarkers({ send: (r, seq) => sent.push([r, seq]), timers }),
    };
    globalThis.document = { hidden: true };
    markSeen(app, room);
    timers.fire();
    assert.deepEqual(sent, [], 'a hidden page reads nothing');
    globalThis.document = { hidden: false };
    markSeen(app, new Room('team'));
    markSeen(app, room);
    timers.fire();
    assert.deepEqual(sent, [['lobby', 12]]);
    assert.equal(room.readTo, 12);
    delete globalThis.document;
  });
});
