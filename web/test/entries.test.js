// The room model's log entries (web/js/rooms.js, protocol version 2) without a browser:
// text entries become messages, edits, deletes and reactions change the messages held,
// history pages show messages in their latest state, and resuming neither loses nor repeats
// a change. Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { REACTIONS } from '../js/codec.js';
import { Room, applyChange, changeTarget, hasReacted, isText, messageState } from '../js/rooms.js';

const EPOCH = 7;
const entry = (seq, from, body) => ({ room: 'lobby', seq, epoch: EPOCH, from, ts: 1000 + seq, body });
const text = (seq, from = 'ada', t = `m${seq}`, replyTo = null) => entry(seq, from, { Text: { text: t, reply_to: replyTo } });
const edit = (seq, target, t, from = 'ada') => entry(seq, from, { Edit: { target, text: t } });
const del = (seq, target, from = 'ada') => entry(seq, from, { Delete: { target } });
const react = (seq, target, from, emoji, on = true) => entry(seq, from, { React: { target, emoji, on } });
const [THUMBS, HEART, LAUGH] = REACTIONS;

/** What the page does with a stream entry: the message shown or changed, or null. */
function onEntry(room, e) {
  if (!room.receive(e)) return null;
  return isText(e) ? room.record(e) : room.change(e);
}

/** The log folded from nothing: every message's latest state, by seq. */
function fold(log) {
  const states = new Map();
  for (const e of log) {
    if (isText(e)) states.set(e.seq, messageState(e));
    else {
      const s = states.get(changeTarget(e));
      if (s) applyChange(s, e);
    }
  }
  return states;
}

describe('log entries', () => {
  test('a text entry is a message; every kind of entry moves the resume point, each seq once', () => {
    const room = new Room('lobby');
    const m = onEntry(room, text(1, 'ada', 'hello', null));
    assert.deepEqual(m, { seq: 1, from: 'ada', ts: 1001, text: 'hello', reply_to: null, edited_ts: 0, deleted: false, reactions: [] });
    assert.equal(onEntry(room, edit(2, 1, 'hello!')), m);
    assert.equal(room.lastSeq, 2);
    assert.deepEqual(room.resumePoint(), { epoch: EPOCH, seq: 2 });
    assert.equal(onEntry(room, edit(2, 1, 'hello!')), null, 'a repeated entry is dropped');
    assert.equal(onEntry(room, text(1)), null);
    assert.equal(room.shown.size, 1);
  });

  test('an edit replaces the text and marks the message edited; a later edit wins', () => {
    const room = new Room('lobby');
    onEntry(room, text(1, 'ada', 'helo'));
    const m = onEntry(room, edit(2, 1, 'hello'));
    assert.equal(m.text, 'hello');
    assert.equal(m.edited_ts, 1002);
    onEntry(room, edit(3, 1, 'hello there'));
    assert.equal(room.shown.get(1).text, 'hello there');
    assert.equal(room.shown.get(1).edited_ts, 1003);
  });

  test('a change to a message not held changes nothing, and nothing is kept without a page on its way', () => {
    const room = new Room('lobby', { epoch: EPOCH, seq: 10 });
    assert.equal(onEntry(room, edit(11, 3, 'x')), null);
    assert.equal(onEntry(room, del(12, 4)), null);
    assert.equal(onEntry(room, react(13, 5, 'bo', THUMBS)), null);
    assert.equal(room.lastSeq, 13, 'still covered by the resume point');
    assert.equal(room.shown.size, 0);
    assert.deepEqual(room.orphans, []);
  });

  test('a delete leaves a tombstone that takes no more changes', () => {
    const room = new Room('lobby');
    onEntry(room, text(1, 'ada', 'oops'));
    onEntry(room, react(2, 1, 'bo', HEART));
    const m = onEntry(room, del(3, 1));
    assert.deepEqual({ text: m.text, deleted: m.deleted, reactions: m.reactions }, { text: '', deleted: true, reactions: [] });
    assert.equal(onEntry(room, edit(4, 1, 'back')), null);
    assert.equal(onEntry(room, react(5, 1, 'bo', HEART)), null);
    assert.equal(m.text, '');
    assert.equal(room.lastSeq, 5);
  });

  test('reactions: one per nick and emoji, counted in REACTIONS order, removed when the last nick goes', () => {
    const room = new Room('lobby');
    const m = onEntry(room, text(1));
    onEntry(room, react(2, 1, 'cy', HEART));
    onEntry(room, react(3, 1, 'bo', THUMBS));
    onEntry(room, react(4, 1, 'ada', HEART));
    assert.equal(onEntry(room, react(5, 1, 'ada', HEART)), null, 'adding one already there changes nothing');
    assert.deepEqual(m.reactions, [
      { emoji: THUMBS, nicks: ['bo'] },
      { emoji: HEART, nicks: ['ada', 'cy'] },
    ]);
    assert.equal(hasReacted(m, 'ada', HEART), true);
    assert.equal(hasReacted(m, 'ada', THUMBS), false);
    onEntry(room, react(6, 1, 'bo', THUMBS, false));
    assert.equal(onEntry(room, react(7, 1, 'bo', LAUGH, false)), null, 'removing one never added changes nothing');
    assert.deepEqual(m.reactions, [{ emoji: HEART, nicks: ['ada', 'cy'] }]);
  });

  test('an entry of a kind this page does not know moves the resume point and changes nothing', () => {
    const room = new Room('lobby');
    onEntry(room, text(1));
    const later = entry(2, 'ada', { Pin: { target: 1 } });
    assert.equal(isText(later), false);
    assert.equal(changeTarget(later), null);
    assert.equal(onEntry(room, later), null);
    assert.equal(room.lastSeq, 2);
  });

  test('a version-1 message is a message never edited and answering nothing', () => {
    const v1 = { room: 'lobby', seq: 3, epoch: EPOCH, from: 'bo', ts: 5, text: 'hi' };
    assert.equal(isText(v1), true);
    assert.deepEqual(messageState(v1), { seq: 3, from: 'bo', ts: 5, text: 'hi', reply_to: null, edited_ts: 0, deleted: false, reactions: [] });
  });
});

describe('history pages in the latest state', () => {
  const page = (messages) => ({ epoch: EPOCH, messages, more: false });
  const state = (seq, fields = {}) => ({ seq, from: 'ada', ts: 1000 + seq, text: `m${seq}`, reply_to: null, edited_ts: 0, deleted: false, reactions: [], ...fields });

  test('a page shows the messages not held, as the relay folded them; held ones stay as they are', () => {
    const room = new Room('lobby');
    onEntry(room, text(5, 'ada', 'live'));
    const reactions = [{ emoji: THUMBS, nicks: ['bo'] }];
    const added = room.takePage(page([state(3, { text: 'fixed', edited_ts: 1040, reactions }), state(4, { text: '', deleted: true }), state(5)]));
    assert.deepEqual(added.map((m) => m.seq), [3, 4]);
    assert.equal(room.shown.get(3).text, 'fixed');
    assert.equal(room.shown.get(4).deleted, true);
    assert.equal(room.shown.get(5).text, 'live');
    reactions[0].nicks.push('cy');
    assert.deepEqual(room.shown.get(3).reactions, [{ emoji: THUMBS, nicks: ['bo'] }], 'the page is copied, not shared');
  });

  test('changes that arrive while a page is on its way are replayed over it', () => {
    const room = new Room('lobby', { epoch: EPOCH, seq: 10 });
    room.loadingOlder = true;
    // Stored after the relay read the page, delivered before the page arrived.
    onEntry(room, edit(11, 3, 'edited later'));
    onEntry(room, react(12, 3, 'bo', THUMBS));
    onEntry(room, del(13, 4));
    assert.equal(room.orphans.length, 3);
    room.loadingOlder = false;
    room.takePage(page([state(3), state(4)]));
    assert.equal(room.shown.get(3).text, 'edited later');
    assert.deepEqual(room.shown.get(3).reactions, [{ emoji: THUMBS, nicks: ['bo'] }]);
    assert.equal(room.shown.get(4).deleted, true);
    assert.deepEqual(room.orphans, [], 'kept only until the page came');
  });

  test('replaying what the page already holds ends where the log does, wherever the page was read', () => {
    // A log of messages and changes; the page is read after any of its entries, while the
    // stream delivers the changes after the request went out; every split must end equal.
    let seed = 42;
    const rand = (n) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const nicks = ['ada', 'bo', 'cy'];
    for (let run = 0; run < 200; run++) {
      const log = [text(1), text(2), text(3)];
      for (let seq = 4; seq <= 24; seq++) {
        const target = 1 + rand(3);
        const kind = rand(10);
        if (kind < 3) log.push(edit(seq, target, `t${seq}`));
        else if (kind < 4) log.push(del(seq, target));
        else log.push(react(seq, target, nicks[rand(3)], REACTIONS[rand(3)], rand(3) > 0));
      }
      const sent = 3 + rand(21); // the History request goes out after entry `sent`
      const read = sent + rand(24 - sent + 1); // the relay reads the page after entry `read`
      const room = new Room('lobby', { epoch: EPOCH, seq: 3 });
      for (const e of log.slice(3, sent)) onEntry(room, e);
      room.loadingOlder = true;
      for (const e of log.slice(sent)) onEntry(room, e);
      room.loadingOlder = false;
      const folded = fold(log.slice(0, read));
      room.takePage(page([...folded.values()].map((s) => ({ ...s, reactions: s.reactions.map((r) => ({ ...r })) }))));
      assert.deepEqual(Object.fromEntries(room.shown), Object.fromEntries(fold(log)), `run ${run}: request after ${sent}, read after ${read}`);
    }
  });

  test('changes kept for a page are bounded, and forgotten with the epoch', () => {
    const room = new Room('lobby', { epoch: EPOCH, seq: 1 });
    room.loadingOlder = true;
    for (let seq = 2; seq < 1_200; seq++) onEntry(room, react(seq, 1, `n${seq}`, THUMBS));
    assert.equal(room.orphans.length, 1_000);
    assert.equal(room.orphans[0].seq, 200, 'the oldest go first');
    room.setEpoch(EPOCH + 1);
    assert.deepEqual(room.orphans, []);
  });
});

describe('replies and own messages', () => {
  test('a reply names the message it answers; the room knows the replies of each', () => {
    const room = new Room('lobby');
    onEntry(room, text(1, 'ada', 'question'));
    const reply = onEntry(room, text(2, 'bo', 'answer', 1));
    assert.equal(reply.reply_to, 1);
    onEntry(room, text(3, 'cy', 'me too', 1));
    assert.deepEqual(room.repliesTo(1), [2, 3]);
    assert.deepEqual(room.repliesTo(2), []);
    room.setEpoch(EPOCH + 1);
    assert.deepEqual(room.repliesTo(1), []);
  });

  test('an own reply: the Sent reply shows it with its target; the stream adopts it only with the same target', () => {
    const room = new Room('lobby');
    const p = room.queue('sure', 4);
    p.state = 'sending';
    const m = room.confirm(p, { seq: 9, epoch: EPOCH, ts: 5 }, 'ada');
    assert.equal(m.reply_to, 4);
    assert.deepEqual(room.repliesTo(4), [9]);

    const q = room.queue('same words', 4);
    q.state = 'sending';
    assert.equal(room.adopt(messageState(text(10, 'ada', 'same words'))), null, 'not a reply: another message');
    assert.equal(room.adopt(messageState(text(11, 'ada', 'same words', 4))), q);
  });

  test("Up edits one's newest message still there", () => {
    const room = new Room('lobby');
    assert.equal(room.lastOwn('ada'), null);
    onEntry(room, text(1, 'ada', 'first'));
    onEntry(room, text(2, 'ada', 'second'));
    onEntry(room, text(3, 'bo', 'other'));
    assert.equal(room.lastOwn('ada').seq, 2);
    onEntry(room, del(4, 2));
    assert.equal(room.lastOwn('ada').seq, 1);
    assert.equal(room.lastOwn('cy'), null);
  });
});

describe('resuming', () => {
  test('a resume after seq N applies every change made since to the messages held, once', () => {
    // Seen before the outage: messages 1 and 2, resume point 2.
    const room = new Room('lobby');
    onEntry(room, text(1, 'ada', 'keep'));
    onEntry(room, text(2, 'ada', 'typo'));
    // The relay replays everything after 2, overlapping what was already delivered.
    const after = [edit(3, 2, 'fixed'), del(4, 1), text(5, 'bo', 'new')];
    for (const e of after) onEntry(room, e);
    for (const e of after) assert.equal(onEntry(room, e), null, 'a repeat changes nothing');
    assert.equal(room.shown.get(2).text, 'fixed');
    assert.equal(room.shown.get(1).deleted, true);
    assert.deepEqual([...room.shown.keys()], [1, 2, 5]);
    assert.equal(room.lastSeq, 5);
  });
});
