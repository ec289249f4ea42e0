// The page's relay liveness check (web/js/liveness.js) and its racing of relay URLs
// (web/js/race.js), without a browser, on a fake clock where time matters.
// Run: node --test web/test/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  LATE_CHECK_MS,
  LIVENESS_CHECK_MS,
  Liveness,
  PING_AFTER_SILENCE_MS,
  PING_TIMEOUT_MS,
  STORE_WAIT_MS,
} from '../js/liveness.js';
import { firstToOpen } from '../js/race.js';

/** A Liveness on a clock the test moves, counting pings and deaths. */
function watched({ waitingOnStore = false } = {}) {
  const w = { t: 0, pings: 0, dead: 0, store: waitingOnStore };
  w.liveness = new Liveness({
    ping: () => {
      w.pings += 1;
      return new Promise(() => {});
    },
    waitingOnStore: () => w.store,
    dead: () => {
      w.dead += 1;
    },
    now: () => w.t,
  });
  /** Checks on time, every LIVENESS_CHECK_MS, until (and at) `t`. */
  w.at = (t) => {
    while (w.t < t) {
      w.t = Math.min(t, w.t + LIVENESS_CHECK_MS);
      w.liveness.check();
    }
  };
  /** One check at `t`, the first for a while: the page was held up until then. */
  w.lateAt = (t) => {
    w.t = t;
    w.liveness.check();
  };
  return w;
}

describe('liveness', () => {
  test('a busy relay is never pinged', () => {
    const w = watched();
    for (let t = 100; t < 5_000; t += 100) {
      w.liveness.heard();
      w.at(t);
    }
    assert.equal(w.pings, 0);
    assert.equal(w.dead, 0);
  });

  test('a quiet relay is pinged, and left if the ping hears nothing back', () => {
    const w = watched();
    w.at(PING_AFTER_SILENCE_MS - 1);
    assert.equal(w.pings, 0);
    w.at(PING_AFTER_SILENCE_MS);
    assert.equal(w.pings, 1);
    w.at(PING_AFTER_SILENCE_MS + PING_TIMEOUT_MS - 1);
    assert.equal(w.dead, 0);
    w.at(PING_AFTER_SILENCE_MS + PING_TIMEOUT_MS);
    assert.equal(w.dead, 1);
  });

  test('an answer clears the ping; a late timer alone never kills', () => {
    const w = watched();
    w.at(PING_AFTER_SILENCE_MS);
    w.t = PING_AFTER_SILENCE_MS + 5;
    w.liveness.heard();
    // A background tab's timer fires a minute late: the relay answered long ago.
    w.lateAt(60_000);
    assert.equal(w.dead, 0);
    assert.equal(w.pings, 2, 'pinged again after the silence');
  });

  test('a page held up past the ping deadline reads what arrived before judging', () => {
    const w = watched();
    w.at(PING_AFTER_SILENCE_MS);
    assert.equal(w.pings, 1);
    // The main thread was busy for seconds: the Pong waits in the task queue behind the timer.
    w.lateAt(PING_AFTER_SILENCE_MS + 3 * PING_TIMEOUT_MS);
    assert.equal(w.dead, 0, 'a late check does not judge');
    w.liveness.heard();
    w.at(w.t + LIVENESS_CHECK_MS);
    assert.equal(w.dead, 0, 'the Pong was read before the next check');
  });

  test('each ping gets its own late-check grace', () => {
    const w = watched();
    w.at(PING_AFTER_SILENCE_MS);
    w.lateAt(w.t + 3 * PING_TIMEOUT_MS);
    w.liveness.heard();
    w.at(w.t + LIVENESS_CHECK_MS);
    assert.equal(w.dead, 0);
    // Quiet again: the next ping, and another stall past its deadline.
    w.at(w.t + PING_AFTER_SILENCE_MS);
    assert.equal(w.pings, 2);
    w.lateAt(w.t + 3 * PING_TIMEOUT_MS);
    assert.equal(w.dead, 0, 'the first stall used no grace of this ping');
  });

  test('a dead relay is still left when every check is late', () => {
    // A background tab whose timers run once a second.
    const w = watched();
    const step = 2 * LATE_CHECK_MS;
    let t = 0;
    while (w.dead === 0 && t < 60_000) {
      t += step;
      w.lateAt(t);
    }
    assert.equal(w.pings, 1);
    assert.ok(t <= PING_AFTER_SILENCE_MS + PING_TIMEOUT_MS + 3 * step, `left at ${t} ms`);
  });

  test('a relay holding answers for its store gets the store deadline', () => {
    const w = watched({ waitingOnStore: true });
    w.at(PING_AFTER_SILENCE_MS);
    w.at(PING_AFTER_SILENCE_MS + PING_TIMEOUT_MS);
    assert.equal(w.dead, 0);
    w.at(PING_AFTER_SILENCE_MS + STORE_WAIT_MS);
    assert.equal(w.dead, 1);
  });
});

describe('firstToOpen', () => {
  const hang = () => new Promise(() => {});

  test('a hanging first attempt does not hold up the next', async () => {
    const won = await firstToOpen({ count: 3, staggerMs: 10, open: (i) => (i === 0 ? hang() : Promise.resolve(`s${i}`)) });
    assert.deepEqual(won, { value: 's1', index: 1 });
  });

  test('a failure starts the next attempt at once', async () => {
    // A stagger no test outlives: only the failure can start the second attempt.
    const won = await firstToOpen({
      count: 2,
      staggerMs: 3_600_000,
      open: (i) => (i === 0 ? Promise.reject(new Error('down')) : Promise.resolve('s1')),
    });
    assert.deepEqual(won, { value: 's1', index: 1 });
  });

  test('a success after the race was decided is discarded', async () => {
    const discarded = [];
    let release;
    const late = new Promise((resolve) => {
      release = resolve;
    });
    const won = await firstToOpen({
      count: 2,
      staggerMs: 10,
      open: (i) => (i === 0 ? late : Promise.resolve('s1')),
      discard: (v) => discarded.push(v),
    });
    assert.deepEqual(won, { value: 's1', index: 1 });
    release('s0');
    await late;
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(discarded, ['s0']);
  });

  test('all failing rejects with the last error; a final error at once', async () => {
    await assert.rejects(
      firstToOpen({ count: 2, staggerMs: 10, open: (i) => Promise.reject(new Error(`e${i}`)) }),
      /e1/,
    );
    await assert.rejects(
      firstToOpen({
        count: 3,
        staggerMs: 3_600_000,
        open: (i) => (i === 0 ? Promise.reject(new Error('nick')) : hang()),
        isFinal: (e) => e.message === 'nick',
      }),
      /nick/,
    );
  });
});
