// Whether a relay is still there, judged by the page itself. Browsers' WebTransport has no
// keep-alive setting, so a relay killed without a goodbye would go unnoticed until the
// browser's own QUIC idle timeout (tens of seconds); instead the session pings a relay that
// has gone quiet and gives up on one whose ping hears nothing back. A busy session hears
// its relay all the time and pings not at all. connection.js feeds it what arrives.

/**
 * A session that has heard nothing from its relay for this long sends a Ping (which also
 * keeps a quiet session inside the relay's idle timeout). Two seconds keeps an idle page to
 * about 27 pings a minute (81 UDP datagrams with the Pongs and acknowledgements, against
 * 315 at a 400 ms silence: docs/performance.md) while a dead relay is still left within
 * seconds.
 */
export const PING_AFTER_SILENCE_MS = 2_000;

/**
 * A ping that heard nothing back for this long means the relay is gone. Many round trips
 * even on a slow link; with the silence before the ping and the check interval, a dead
 * relay is left 3.0-3.4 s after the last thing it sent.
 */
export const PING_TIMEOUT_MS = 1_000;

/**
 * The relay answers Join, Leave and Who in order on the control stream, after its message
 * store (a Join subscribes and reads the room's head): with the store paused, these answers
 * and any Ping behind them wait up to the store's 3 s command deadline. While one is
 * unanswered, a ping gets this long before the relay is taken for dead.
 */
export const STORE_WAIT_MS = 4_000;

/** The requests STORE_WAIT_MS applies to. */
export const ANSWERED_AFTER_STORE = new Set(['Join', 'Leave', 'Who']);

/** How often the liveness check runs (a tab in the background may run it less often). */
export const LIVENESS_CHECK_MS = 200;

/**
 * A check this long after the one before ran late: the page itself was held up (a busy main
 * thread, a background tab's throttled timers), and what the relay sent meanwhile may still
 * wait in the page's task queue behind the timer. Such a check does not judge a ping; the
 * next one, after those tasks ran, does.
 */
export const LATE_CHECK_MS = 600;

export class Liveness {
  /**
   * @param {object} opts
   * @param {() => Promise<unknown>} opts.ping  sends a Ping; resolves when answered
   * @param {() => boolean} opts.waitingOnStore  whether a request of ANSWERED_AFTER_STORE is unanswered
   * @param {() => void} opts.dead  called once the relay is taken for dead
   * @param {(ms: number) => void} [opts.rtt]  a ping's round trip
   * @param {() => number} [opts.now]  the clock (ms)
   */
  constructor({ ping, waitingOnStore, dead, rtt = () => {}, now = () => performance.now() }) {
    Object.assign(this, { ping, waitingOnStore, dead, rtt, now });
    /** When anything last arrived from the relay. */
    this.lastHeard = now();
    /** When the unanswered ping went out, or null. */
    this.pingSentAt = null;
    /** When the last check ran, or null. */
    this.checkedAt = null;
    /** Whether the last check was late and left its judgement to this one. */
    this.deferred = false;
  }

  /** Something arrived from the relay. */
  heard() {
    this.lastHeard = this.now();
  }

  /**
   * Pings a relay silent for PING_AFTER_SILENCE_MS; calls `dead` if nothing at all arrived
   * within PING_TIMEOUT_MS of the ping (STORE_WAIT_MS while `waitingOnStore`). Judged from
   * the ping's own time, so a background tab whose timers run late never takes its own
   * lateness for a dead relay; a late check (LATE_CHECK_MS) leaves the judgement to the next,
   * once what arrived while the page was held up has been read.
   */
  check() {
    const now = this.now();
    const late = this.checkedAt !== null && now - this.checkedAt >= LATE_CHECK_MS;
    this.checkedAt = now;
    if (this.pingSentAt !== null && this.lastHeard >= this.pingSentAt) this.pingSentAt = null;
    if (this.pingSentAt === null) {
      if (now - this.lastHeard >= PING_AFTER_SILENCE_MS) this.#probe(now);
      return;
    }
    const limit = this.waitingOnStore() ? STORE_WAIT_MS : PING_TIMEOUT_MS;
    if (now - this.pingSentAt < limit) return;
    if (late && !this.deferred) {
      this.deferred = true;
      return;
    }
    this.deferred = false;
    this.dead();
  }

  #probe(now) {
    this.pingSentAt = now;
    this.deferred = false;
    this.ping().then(
      () => this.rtt(this.now() - now),
      () => {
        // Answered with an error (the relay is there, and heard() says so) or lost (the
        // session reports why).
      },
    );
  }
}
