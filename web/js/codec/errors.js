// The error code table (protocol/src/error.rs) and the codec's own error, with the path to
// where in a value it arose.

// [number, name, description]: protocol/src/error.rs, checked against the vectors file.
const CODES = [
  [0, 'NO_ERROR', 'closed'],
  [1, 'BAD_FRAME', 'malformed frame'],
  [2, 'FRAME_TOO_LARGE', 'frame too large'],
  [3, 'UNKNOWN_FRAME', 'unknown frame type'],
  [4, 'INVALID_UTF8', 'invalid UTF-8'],
  [5, 'PROTOCOL_VIOLATION', 'protocol violation'],
  [6, 'UNSUPPORTED_VERSION', 'unsupported protocol version'],
  [10, 'INVALID_NICK', 'invalid nick'],
  [11, 'INVALID_ROOM', 'invalid room name'],
  [12, 'TEXT_TOO_LONG', 'message too long'],
  [13, 'INVALID_TEXT', 'invalid message text'],
  [14, 'NOT_JOINED', 'not in that room'],
  [15, 'TOO_MANY_ROOMS', 'too many rooms'],
  [16, 'RATE_LIMITED', 'sending too fast'],
  [17, 'INVALID_REQUEST', 'invalid request'],
  [18, 'QUOTA_EXCEEDED', 'quota exceeded'],
  [19, 'NICK_LOOKALIKE', "nick looks like a member's"],
  [20, 'SERVER_BUSY', 'relay is full'],
  [21, 'HANDSHAKE_TIMEOUT', 'handshake timed out'],
  [22, 'IDLE_TIMEOUT', 'idle timeout'],
  [23, 'SLOW_CONSUMER', 'too slow reading messages'],
  [24, 'SHUTTING_DOWN', 'relay shutting down'],
  [25, 'UNAVAILABLE', 'message store unavailable'],
  [26, 'INTERNAL', 'internal error'],
  [27, 'STORAGE_FULL', 'relay storage full'],
  [28, 'TOO_MANY_FROM_ADDRESS', 'too many sessions from this address'],
  [29, 'NICK_TAKEN', 'nick is taken'],
  [30, 'UNAUTHORIZED', 'not signed in'],
  [31, 'FORBIDDEN', 'not allowed in that room'],
  [32, 'TOKEN_EXPIRED', 'sign-in expired'],
  [33, 'ROOM_EXISTS', 'room exists'],
  [34, 'NO_SUCH_ROOM', 'no such room'],
  [35, 'NO_SUCH_MESSAGE', 'no such message'],
  [36, 'NOT_AUTHOR', 'not your message'],
  [37, 'EDIT_LIMIT', 'edited too often'],
];

/** Whether a relay closes the connection after sending this code (INVALID_NICK and NICK_TAKEN refuse a Hello). */
export function isFatal(code) {
  return (
    (code >= 1 && code <= 6) || code === 10 || (code >= 20 && code <= 24) || (code >= 28 && code <= 30) || code === 32
  );
}

/** Every named code: {code, name, description, fatal}. */
export const ERROR_CODES = Object.freeze(
  CODES.map(([code, name, description]) =>
    Object.freeze({ code, name, description, fatal: isFatal(code) }),
  ),
);

/** Code numbers by name, e.g. ErrorCode.TEXT_TOO_LONG === 12. */
export const ErrorCode = Object.freeze(Object.fromEntries(CODES.map(([code, name]) => [name, code])));

const BY_NUMBER = new Map(ERROR_CODES.map((e) => [e.code, e]));

/** The table entry of a code number; unknown numbers (a newer relay) get the name UNKNOWN. */
export function errorInfo(code) {
  return BY_NUMBER.get(code) ?? { code, name: 'UNKNOWN', description: 'unknown error', fatal: isFatal(code) };
}

/**
 * Why bytes could not become a frame, or a value could not become bytes. `code` is the
 * error name (BAD_FRAME, FRAME_TOO_LARGE, UNKNOWN_FRAME, INVALID_UTF8) and `wireCode` its
 * number, the code to close the connection with.
 */
export class CodecError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
    this.wireCode = ErrorCode[code];
    /** Where in the value the error arose (field names, list indexes), outermost first. */
    this.path = [];
  }
}

/** Records that `err` arose inside `step` (a field, variant or index) on its way out. */
export function within(err, step) {
  if (err instanceof CodecError) err.path.unshift(step);
  return err;
}

/** Finishes an error's message with its path, once, at the public boundary. */
export function located(err, typeName) {
  if (err instanceof CodecError) {
    err.message = `${[typeName, ...err.path].join('.')}: ${err.message}`;
  }
  return err;
}

export const ended = () => new CodecError('BAD_FRAME', 'body ends inside a value');
export const badValue = (what, v) => new CodecError('BAD_FRAME', `expected ${what}, got ${describe(v)}`);

function describe(v) {
  if (typeof v === 'string' || (v !== null && typeof v === 'object')) {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}
