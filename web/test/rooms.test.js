// The room model (web/js/rooms.js) without a browser: timeline order, each seq shown once,
// pending sends resolving by Sent or by the stream, unread counts, and resume points.
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Room,
  SEND_RETRY_MAX_MS,
  STORE_REFUSALS,
  newSendId,
  nextRoom,
  placeAfter,
  retryable,
  sendRetryDelay,
  timelineKey,
  totalUnread,
  unreadElsewhere,
} from '../js/rooms.js';
import { ClientFrame, decodeBody, encodeFrame } from '../js/codec/frames.js';

/** A timeline as an array of `{key}` items, each placed the way the view places list items. */
function timeline(...keys) {
  const list = [];
  const previous = (item) => list[list.indexOf(item) - 1] ?? null;
  const insert = (key) => {
    const at = placeAfter(list.at(-1), key, (item) => item.key, previous);
    list.splice(at === null ? 0 : list.indexOf(at) + 1, 0, { key });
  };
  for (const key of keys) insert(key);
  return {
    get items() {
      return list.map((item) => item.key);
    },
    list,
    insert,
  };
}

const msg = (seq, from = 'ada', text = `m${seq}`, epoch = 7) => ({ room: 'lobby', seq, epoch, from, ts: 1000 + seq, text });

describe('timeline order', () => {
  test('messages arriving out of order are placed by seq', () => {
    const t = timeline(timelineKey.top, 5, 3, 9, 4, 1);
    assert.deepEqual(t.items, [-Infinity, 1, 3, 4, 5, 9]);
  });

  test('a page of older messages prepended newest first ends up oldest first', () => {
    const t = timeline(timelineKey.top, 10, 11);
    for (const seq of [9, 8, 7]) t.insert(timelineKey.message(seq));
    assert.deepEqual(t.items, [-Infinity, 7, 8, 9, 10, 11]);
  });

  test('pending sends stay last, in the order typed, whatever arrives after them', () => {
    const t = timeline(timelineKey.top, 1, timelineKey.pending, timelineKey.pending);
    t.insert(timelineKey.message(2));
    assert.deepEqual(t.items, [-Infinity, 1, 2, Infinity, Infinity]);
  });

  test('a notice stays after the seq it was written at; the New marker precedes its message', () => {
    const t = timeline(timelineKey.top, 1, 2);
    t.insert(timelineKey.notice(2));
    t.insert(timelineKey.message(3));
    t.insert(timelineKey.marker(3));
    assert.deepEqual(t.items, [-Infinity, 1, 2, 2.5, 2.75, 3]);
  });

  test('equal keys keep arrival order; an empty timeline places first', () => {
    assert.equal(placeAfter(undefined, 4, (item) => item.key, () => null), null);
    const t = timeline(1, 2, 2);
    const [, first, second] = t.list;
    t.insert(2);
    assert.deepEqual(t.items, [1, 2, 2, 2]);
    assert.equal(t.list[1], first);
    assert.equal(t.list[2], second);
    t.insert(0);
    assert.deepEqual(t.items, [0, 1, 2, 2, 2], 'a key below all goes first');
  });
});

describe('each seq once', () => {
  test('the stream repeats nothing at or below the last seq seen', () => {
    const room = new Room('lobby');
    assert.equal(room.receive(msg(1)), true);
    assert.equal(room.receive(msg(2)), true);
    assert.equal(room.receive(msg(2)), false);
    assert.equal(room.receive(msg(1)), false);
    assert.equal(room.lastSeq, 2);
    assert.equal(room.epoch, 7);
  });

  test('a seq already shown (a Sent reply, a history page) is not shown again', () => {
    const room = new Room('lobby');
    assert.equal(room.record(msg(5)).seq, 5);
    assert.equal(room.record(msg(5)), null);
    assert.equal(room.record(msg(4)).seq, 4);
    assert.equal(room.oldestSeq(), 4);
    assert.equal(room.shown.size, 2);
  });

  test('a new epoch forgets what was shown; the same or a first epoch does not', () => {
    const room = new Room('lobby');
    assert.equal(room.setEpoch(7), 'new');
    room.receive(msg(3));
    room.record(msg(3));
    assert.equal(room.setEpoch(7), 'same');
    assert.equal(room.shown.size, 1);
    assert.equal(room.setEpoch(8), 'lost');
    assert.equal(room.shown.size, 0);
    assert.equal(room.lastSeq, 0);
    assert.equal(room.more, false);
    assert.equal(room.oldestSeq(), null);
    assert.notEqual(room.record(msg(3)), null, 'seq 3 of the new epoch is a new message');
  });

  test('history pages of another epoch are not shown', () => {
    const room = new Room('lobby', { epoch: 7, seq: 10 });
    assert.equal(room.pageFits({ epoch: 7 }), true);
    assert.equal(room.pageFits({ epoch: 8 }), false);
    assert.equal(new Room('fresh').pageFits({ epoch: 8 }), true);
  });
});

describe('pending sends', () => {
  test('the Sent reply resolves a send into its message', () => {
    const room = new Room('lobby');
    const p = room.queue('hello');
    assert.equal(p.state, 'queued');
    assert.deepEqual(room.pending, [p]);
    p.state = 'sending';
    const m = room.confirm(p, { seq: 4, epoch: 7, ts: 99 }, 'ada');
    assert.deepEqual(m, { seq: 4, from: 'ada', ts: 99, text: 'hello', reply_to: null, edited_ts: 0, deleted: false, reactions: [] });
    assert.equal(p.done, true);
    assert.deepEqual(room.pending, []);
    assert.equal(room.shown.has(4), true);
  });

  test('the stream bringing an own message first adopts the pending copy; the late Sent adds nothing', () => {
    const room = new Room('lobby');
    const other = room.queue('other');
    const p = room.queue('hello');
    other.state = 'sending';
    p.state = 'sending';
    assert.notEqual(room.record(msg(4, 'ada', 'hello')), null);
    assert.equal(room.adopt(msg(4, 'ada', 'hello')), p);
    assert.deepEqual(room.pending, [other]);
    assert.equal(room.confirm(p, { seq: 4, epoch: 7, ts: 99 }, 'ada'), null);
    assert.deepEqual(room.pending, [other]);
  });

  test('a Sent whose seq the stream already showed resolves without a second copy', () => {
    const room = new Room('lobby');
    const p = room.queue('hi');
    room.record(msg(4, 'ada', 'hi'));
    assert.equal(room.confirm(p, { seq: 4, epoch: 7, ts: 1 }, 'ada'), null);
    assert.equal(p.done, true);
    assert.deepEqual(room.pending, []);
  });

  test('only sends in flight are adopted, oldest first', () => {
    const room = new Room('lobby');
    const queued = room.queue('same');
    const first = room.queue('same');
    const second = room.queue('same');
    first.state = 'unconfirmed';
    second.state = 'sending';
    assert.equal(room.adopt(msg(1, 'ada', 'same')), first);
    assert.equal(room.adopt(msg(2, 'ada', 'same')), second);
    assert.equal(room.adopt(msg(3, 'ada', 'same')), null, 'a queued send was never sent');
    assert.deepEqual(room.pending, [queued]);
  });

  test('unconfirmed sends fail once the rejoined stream caught up without them', () => {
    const room = new Room('lobby', { epoch: 7, seq: 2 });
    const p = room.queue('lost?');
    const q = room.queue('later');
    p.state = 'unconfirmed';
    room.joinedWith({ members: [], last_seq: 5, resume: 'Resumed' }, { epoch: 7, seq: 2 }, true);
    assert.deepEqual(room.caughtUp(), [], 'backfill not done yet');
    room.receive(msg(5));
    assert.deepEqual(room.caughtUp(), [p]);
    assert.equal(p.state, 'failed');
    assert.match(p.error.title, /connection dropped/);
    assert.equal(q.state, 'queued');
    assert.equal(retryable(p), true);
  });

  test("a send the store refused is tried again by itself: backoff that doubles, is capped, and never gives up", () => {
    assert.deepEqual([...STORE_REFUSALS].sort(), ['STORAGE_FULL', 'UNAVAILABLE']);
    const delays = Array.from({ length: 200 }, (_, i) => sendRetryDelay(i + 1));
    assert.ok(delays[0] > 0 && delays[0] <= 250, 'the first retry comes quickly');
    for (let i = 1; i < delays.length; i++) {
      assert.ok(delays[i] >= delays[i - 1], 'never shorter than the one before');
      assert.ok(delays[i] <= SEND_RETRY_MAX_MS, 'capped');
    }
    assert.equal(delays.at(-1), SEND_RETRY_MAX_MS, 'a long outage is still tried, every few seconds');
    assert.ok(SEND_RETRY_MAX_MS <= 5_000, 'a store that comes back is noticed within seconds');
    // Past what used to be the end (ten tries, about 15 s) it goes on.
    assert.ok(delays.slice(0, 10).reduce((a, b) => a + b) < 60_000);
  });

  test('a send being retried may already be stored: the stream adopts it', () => {
    const room = new Room('lobby');
    const p = room.queue('again');
    p.state = 'retrying';
    assert.equal(room.adopt(msg(3, 'ada', 'again')), p);
    assert.equal(p.done, true);
    assert.equal(retryable({ error: { name: 'STORAGE_FULL' } }), true);
  });

  test('only passing refusals may be retried', () => {
    assert.equal(retryable({ error: { name: 'RATE_LIMITED' } }), true);
    assert.equal(retryable({ error: { name: 'TEXT_TOO_LONG' } }), false);
    const room = new Room('lobby');
    const p = room.queue('x');
    room.fail(p, { title: 'Too long.', detail: null, name: 'TEXT_TOO_LONG' });
    assert.equal(p.state, 'failed');
    assert.equal(retryable(p), false);
    room.settle(p);
    assert.deepEqual(room.pending, []);
  });
});

describe('unread counts', () => {
  test('counting out of sight remembers the first unread; reading resets', () => {
    const room = new Room('lobby');
    room.countUnread(4);
    room.countUnread(5);
    assert.equal(room.unread, 2);
    assert.equal(room.markRead(), 4);
    assert.equal(room.unread, 0);
    assert.equal(room.markRead(), null, 'nothing unread: no marker');
    room.countUnread(9);
    assert.equal(room.markRead(), 9);
  });

  test('mentions are counted among the unread and reset with them', () => {
    const room = new Room('lobby');
    room.countUnread(1);
    room.countUnread(2, true);
    room.countUnread(3, true);
    assert.deepEqual([room.unread, room.mentions], [3, 2]);
    assert.equal(room.markRead(), 1);
    assert.deepEqual([room.unread, room.mentions], [0, 0]);
  });

  test('the title counts every room', () => {
    const a = new Room('a');
    const b = new Room('b');
    a.countUnread(1);
    b.countUnread(1);
    b.countUnread(2);
    assert.equal(totalUnread([a, b]), 3);
    assert.equal(totalUnread([]), 0);
  });
});

describe('resume points', () => {
  test('a room never joined asks for no resume; a saved one resumes where it stopped', () => {
    assert.equal(new Room('new').resumePoint(), null);
    const room = new Room('lobby', { epoch: 7, seq: 12 });
    assert.deepEqual(room.resumePoint(), { epoch: 7, seq: 12 });
    room.receive(msg(13));
    assert.deepEqual(room.resumePoint(), { epoch: 7, seq: 13 });
  });

  test('a live join moves to the room end and fetches the page before it', () => {
    const room = new Room('lobby');
    room.setEpoch(7);
    const r = room.joinedWith({ members: ['ada', 'bo'], last_seq: 40, resume: 'Live' }, null, false);
    assert.deepEqual(r, { gone: 0, before: 41 });
    assert.equal(room.lastSeq, 40);
    assert.equal(room.backfillTo, 40);
    assert.equal(room.joined, true);
    assert.deepEqual(room.memberNames('bo'), ['bo', 'ada']);
  });

  test('a new room has no history to fetch', () => {
    const room = new Room('empty');
    room.setEpoch(7);
    assert.deepEqual(room.joinedWith({ members: [], last_seq: 0, resume: 'Live' }, null, false), { gone: 0, before: 1 });
  });

  test('a resumed join fetches the page before the resume point, unless messages are shown', () => {
    const resume = { epoch: 7, seq: 12 };
    const fresh = new Room('lobby', resume);
    assert.deepEqual(fresh.joinedWith({ members: [], last_seq: 20, resume: 'Resumed' }, resume, false), { gone: 0, before: 13 });
    assert.equal(fresh.lastSeq, 12, 'the backfill brings 13 to 20');
    const shown = new Room('lobby', resume);
    assert.deepEqual(shown.joinedWith({ members: [], last_seq: 20, resume: 'Resumed' }, resume, true), { gone: 0, before: null });
  });

  test('a truncated resume counts what is gone and skips past it', () => {
    const resume = { epoch: 7, seq: 12 };
    const room = new Room('lobby', resume);
    const r = room.joinedWith({ members: [], last_seq: 90, resume: { Truncated: { first_seq: 50 } } }, resume, true);
    assert.deepEqual(r, { gone: 37, before: null });
    assert.equal(room.lastSeq, 49);
    const none = new Room('lobby', { epoch: 7, seq: 60 });
    assert.equal(none.joinedWith({ members: [], last_seq: 90, resume: { Truncated: { first_seq: 50 } } }, { epoch: 7, seq: 60 }, true).gone, 0);
    assert.equal(none.lastSeq, 60, 'never moves back');
  });
});

describe('members and typing', () => {
  test('presence reports only changes', () => {
    const room = new Room('lobby');
    assert.equal(room.presence('ada', true), true);
    assert.equal(room.presence('ada', true), false);
    assert.equal(room.presence('ada', false), true);
    assert.equal(room.presence('bo', false), false);
  });

  test('typing indicators expire and come sorted', () => {
    const room = new Room('lobby');
    room.typing.set('zed', 200);
    room.typing.set('ada', 150);
    room.typing.set('old', 90);
    assert.deepEqual(room.typingAt(100), { nicks: ['ada', 'zed'], next: 150 });
    assert.equal(room.typing.has('old'), false);
    assert.deepEqual(room.typingAt(300), { nicks: [], next: Infinity });
  });

  test('Alt+arrow moves through the rooms, wrapping', () => {
    const names = ['a', 'b', 'c'];
    assert.equal(nextRoom(names, 'a', true), 'b');
    assert.equal(nextRoom(names, 'c', true), 'a');
    assert.equal(nextRoom(names, 'a', false), 'c');
  });
});

describe('send ids', () => {
  test('each pending send gets its own non-zero id below 2^53, and keeps it', () => {
    const room = new Room('r');
    const seen = new Set();
    for (let i = 0; i < 1000; i++) {
      const p = room.queue(`m${i}`);
      assert.ok(Number.isSafeInteger(p.sendId) && p.sendId > 0, `send id ${p.sendId}`);
      seen.add(p.sendId);
    }
    assert.equal(seen.size, 1000, 'ids are random per message');
    assert.ok(newSendId() !== newSendId());
  });

  test('a send id crosses the codec exactly', () => {
    for (const sendId of [newSendId(), 2 ** 53 - 1, 1]) {
      const value = { SendOnce: { id: 3, room: 'r', text: 'hi', send_id: sendId } };
      const frame = encodeFrame(ClientFrame, value);
      assert.deepEqual(decodeBody(ClientFrame, frame.subarray(4)), value);
    }
  });
});

test("the phone's rooms button counts the unread messages of the rooms out of view", () => {
  const rooms = ['here', 'there', 'yonder'].map((name) => new Room(name));
  assert.equal(unreadElsewhere(rooms, 'here'), 0);
  rooms[1].countUnread(3);
  rooms[2].countUnread(7);
  rooms[2].countUnread(8);
  assert.equal(unreadElsewhere(rooms, 'here'), 3);
  assert.equal(unreadElsewhere(rooms, 'yonder'), 1, 'the room in view is not counted');
  assert.equal(unreadElsewhere(rooms, null), 3, 'no room in view: all of them');
  assert.equal(totalUnread(rooms), 3);
});
