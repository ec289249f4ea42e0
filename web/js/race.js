// Opening one of several things, happy-eyeballs style (RFC 8305): the first attempt starts
// at once, each next one after a stagger or as soon as an earlier one fails, while the
// earlier ones go on; the first to succeed wins and later successes are handed back to be
// closed. dial.js races the transports, and the configured relay URLs of each, with it.

/**
 * Runs `open(i)` for i in 0..count-1, staggered by `staggerMs`. Resolves `{value, index}`
 * with the first success; rejects with the error of the last failure once all failed, or at
 * once with an error `isFinal(error)` says every attempt would share. A success after the
 * race is decided goes to `discard(value)`. `stopped()` is asked before each start: once
 * it is true, no further attempt starts.
 */
export function firstToOpen({ count, staggerMs, open, isFinal = () => false, discard = () => {}, stopped = () => false }) {
  return new Promise((resolve, reject) => {
    let started = 0;
    let failed = 0;
    let decided = false;
    let lastError = null;
    let timer = null;
    const next = () => {
      clearTimeout(timer);
      if (decided || started >= count) return;
      if (stopped()) {
        if (started === failed) {
          decided = true;
          reject(lastError ?? new Error('stopped'));
        }
        return;
      }
      const index = started;
      started += 1;
      Promise.resolve()
        .then(() => open(index))
        .then(
          (value) => {
            if (decided) {
              discard(value);
              return;
            }
            decided = true;
            clearTimeout(timer);
            resolve({ value, index });
          },
          (e) => {
            failed += 1;
            if (decided) return;
            lastError = e;
            if (isFinal(e) || failed === count) {
              decided = true;
              clearTimeout(timer);
              reject(e);
              return;
            }
            next();
          },
        );
      if (started < count) timer = setTimeout(next, staggerMs);
    };
    next();
  });
}
