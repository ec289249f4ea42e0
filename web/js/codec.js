// The ChitChat wire codec for JavaScript: every frame to and from bytes, stream framing,
// the error code table and the nick / room / text rules.
//
// A plain ES module with no dependencies and no build step; it runs in browsers and in
// Node 20. docs/protocol.md is the contract it implements, and web/test/codec.test.js holds
// it to the bytes in protocol/vectors/frames.json, which the Rust protocol crate generates.
//
// Values look exactly like serde's JSON form of the Rust frames (externally tagged enums):
//   {"Join": {"id": 1, "room": "lobby", "resume": null}}, "Live", {"Truncated": {"first_seq": 5}}
// Integers are JS numbers; a u64 above Number.MAX_SAFE_INTEGER is refused both ways.
// Options are null (undefined is accepted when encoding, as serde accepts a missing field).

/** The protocol version a client announces in Hello. */
export const PROTOCOL_VERSION = 1;
/** ALPN of native QUIC sessions. */
export const ALPN_CHITCHAT = 'chitchat/1';
/** ALPN of WebTransport sessions (HTTP/3). */
export const ALPN_H3 = 'h3';
/** The most bytes one frame body may hold, in either direction (Rust MAX_FRAME_LEN). */
export const MAX_FRAME_LEN = 256 * 1024;
/** The most bytes one datagram may hold (Rust MAX_DATAGRAM_LEN). */
export const MAX_DATAGRAM_LEN = 1000;
/** Bytes of the big-endian length prefix in front of every stream frame. */
export const LEN_PREFIX = 4;
/** The longest nick, in characters (code points). */
export const MAX_NICK_CHARS = 32;
/** The longest room name, in bytes (room names are ASCII). */
export const MAX_ROOM_LEN = 64;
/** Epochs stay below 2^53 by design, so that JS numbers hold them exactly. */
export const MAX_EPOCH = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------
// Error codes

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
  [20, 'SERVER_BUSY', 'relay is full'],
  [21, 'HANDSHAKE_TIMEOUT', 'handshake timed out'],
  [22, 'IDLE_TIMEOUT', 'idle timeout'],
  [23, 'SLOW_CONSUMER', 'too slow reading messages'],
  [24, 'SHUTTING_DOWN', 'relay shutting down'],
  [25, 'UNAVAILABLE', 'message store unavailable'],
  [26, 'INTERNAL', 'internal error'],
];

/** Whether a relay closes the connection after sending this code. */
export function isFatal(code) {
  return (code >= 1 && code <= 6) || (code >= 20 && code <= 24);
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
function within(err, step) {
  if (err instanceof CodecError) err.path.unshift(step);
  return err;
}

/** Finishes an error's message with its path, once, at the public boundary. */
function located(err, typeName) {
  if (err instanceof CodecError) {
    err.message = `${[typeName, ...err.path].join('.')}: ${err.message}`;
  }
  return err;
}

const ended = () => new CodecError('BAD_FRAME', 'body ends inside a value');
const badValue = (what, v) => new CodecError('BAD_FRAME', `expected ${what}, got ${describe(v)}`);

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

// ---------------------------------------------------------------------------------------
// Bytes in and out

// Varint discriminants: a first byte below 251 is the value itself; 251, 252, 253 announce a
// little-endian u16, u32, u64. A field accepts the forms up to its own width.
const U16_BYTE = 251;
const U32_BYTE = 252;
const U64_BYTE = 253;
const TWO_32 = 2 ** 32;

// fatal: invalid UTF-8 is an error, never U+FFFD; ignoreBOM: a leading U+FEFF is text, kept.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Whether a string is valid Unicode (UTF-8 cannot carry a lone surrogate). */
const isWellFormed = String.prototype.isWellFormed
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

/** Reads values from one frame body. */
class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.pos = 0;
  }

  byte() {
    if (this.pos >= this.b.length) throw ended();
    return this.b[this.pos++];
  }

  /** A varint whose first byte may be at most `maxTag` (the field's width). */
  varint(maxTag) {
    const first = this.byte();
    if (first < U16_BYTE) return first;
    if (first > maxTag) {
      throw new CodecError('BAD_FRAME', `varint form ${first} is wider than the field`);
    }
    const b = this.b;
    const p = this.pos;
    if (first === U16_BYTE) {
      if (p + 2 > b.length) throw ended();
      this.pos = p + 2;
      return b[p] | (b[p + 1] << 8);
    }
    if (first === U32_BYTE) {
      if (p + 4 > b.length) throw ended();
      this.pos = p + 4;
      return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    }
    if (p + 8 > b.length) throw ended();
    this.pos = p + 8;
    const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    if (hi > 0x1fffff) {
      throw new CodecError('BAD_FRAME', 'u64 value above 2^53 - 1, which a JavaScript number cannot hold exactly');
    }
    return hi * TWO_32 + lo;
  }

  str() {
    const len = this.varint(U64_BYTE);
    const start = this.pos;
    if (len > this.b.length - start) {
      throw new CodecError('BAD_FRAME', `string of ${len} bytes runs past the end of the body`);
    }
    this.pos = start + len;
    if (len === 0) return '';
    try {
      return utf8Decoder.decode(this.b.subarray(start, this.pos));
    } catch {
      throw new CodecError('INVALID_UTF8', 'invalid UTF-8 in a string');
    }
  }
}

/** Writes values into a growable buffer. */
class Writer {
  constructor() {
    this.buf = new Uint8Array(1024);
    this.pos = 0;
  }

  reserve(n) {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf);
    this.buf = next;
  }

  byte(v) {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  /** The shortest varint form of `v` (an integer from 0 to 2^53 - 1). */
  varint(v) {
    this.reserve(9);
    const b = this.buf;
    const p = this.pos;
    if (v < U16_BYTE) {
      b[p] = v;
      this.pos = p + 1;
    } else if (v <= 0xffff) {
      b[p] = U16_BYTE;
      b[p + 1] = v & 0xff;
      b[p + 2] = v >>> 8;
      this.pos = p + 3;
    } else if (v <= 0xffffffff) {
      b[p] = U32_BYTE;
      writeU32LE(b, p + 1, v);
      this.pos = p + 5;
    } else {
      const lo = v % TWO_32;
      b[p] = U64_BYTE;
      writeU32LE(b, p + 1, lo);
      writeU32LE(b, p + 5, (v - lo) / TWO_32);
      this.pos = p + 9;
    }
  }

  str(s) {
    // Every UTF-16 unit is at least one UTF-8 byte: a longer string cannot fit in a frame,
    // and refusing it here bounds the buffer.
    if (s.length > MAX_FRAME_LEN) {
      throw new CodecError('FRAME_TOO_LARGE', `string of ${s.length} characters cannot fit in a frame`);
    }
    if (!isWellFormed(s)) {
      throw new CodecError('INVALID_UTF8', 'string holds an unpaired surrogate, which UTF-8 cannot carry');
    }
    const most = s.length * 3;
    if (most < U16_BYTE) {
      // The byte length is below 251 whatever the text: its varint is one byte.
      this.reserve(1 + most);
      const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos + 1));
      this.buf[this.pos] = written;
      this.pos += 1 + written;
      return;
    }
    // Encode after room for the longest varint, then slide the bytes down behind the real one.
    this.reserve(9 + most);
    const start = this.pos + 9;
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(start));
    this.varint(written);
    this.buf.copyWithin(this.pos, start, start + written);
    this.pos += written;
  }
}

function writeU32LE(b, p, v) {
  b[p] = v & 0xff;
  b[p + 1] = (v >>> 8) & 0xff;
  b[p + 2] = (v >>> 16) & 0xff;
  b[p + 3] = (v >>> 24) & 0xff;
}

// ---------------------------------------------------------------------------------------
// Types: each is {enc(writer, value), dec(reader)}, composed like the Rust declarations.

function uint(max, maxTag, what) {
  return {
    enc(w, v) {
      if (!Number.isInteger(v) || v < 0 || v > max) {
        if (maxTag === U64_BYTE && Number.isInteger(v) && v > max) {
          throw new CodecError('BAD_FRAME', `u64 value ${v} is above 2^53 - 1, which a JavaScript number cannot hold exactly`);
        }
        throw badValue(what, v);
      }
      w.varint(v);
    },
    dec: (r) => r.varint(maxTag),
  };
}

const u16 = uint(0xffff, U16_BYTE, 'an integer from 0 to 65535 (u16)');
const u32 = uint(0xffffffff, U32_BYTE, 'an integer from 0 to 4294967295 (u32)');
const u64 = uint(Number.MAX_SAFE_INTEGER, U64_BYTE, 'an integer from 0 to 2^53 - 1 (u64)');

const bool = {
  enc(w, v) {
    if (typeof v !== 'boolean') throw badValue('a boolean', v);
    w.byte(v ? 1 : 0);
  },
  dec(r) {
    const b = r.byte();
    if (b > 1) throw new CodecError('BAD_FRAME', `boolean byte ${b} is neither 0 nor 1`);
    return b === 1;
  },
};

const string = {
  enc(w, v) {
    if (typeof v !== 'string') throw badValue('a string', v);
    w.str(v);
  },
  dec: (r) => r.str(),
};

function option(inner) {
  return {
    enc(w, v) {
      if (v === null || v === undefined) {
        w.byte(0);
      } else {
        w.byte(1);
        inner.enc(w, v);
      }
    },
    dec(r) {
      const b = r.byte();
      if (b === 0) return null;
      if (b === 1) return inner.dec(r);
      throw new CodecError('BAD_FRAME', `option byte ${b} is neither 0 nor 1`);
    },
  };
}

function list(item) {
  return {
    enc(w, v) {
      if (!Array.isArray(v)) throw badValue('an array', v);
      w.varint(v.length);
      for (let i = 0; i < v.length; i++) {
        try {
          item.enc(w, v[i]);
        } catch (e) {
          throw within(e, i);
        }
      }
    },
    dec(r) {
      const n = r.varint(U64_BYTE);
      // Every item takes at least one byte: a longer count is a lie, refused before looping.
      if (n > r.b.length - r.pos) throw ended();
      const out = [];
      for (let i = 0; i < n; i++) {
        try {
          out.push(item.dec(r));
        } catch (e) {
          throw within(e, i);
        }
      }
      return out;
    },
  };
}

/** A struct: its fields in declaration order, no tag. `fields` is [[name, type], ...]. */
function struct(fields) {
  const names = fields.map((f) => f[0]);
  const types = fields.map((f) => f[1]);
  return {
    enc(w, v) {
      if (v === null || typeof v !== 'object') throw badValue('an object', v);
      for (let i = 0; i < names.length; i++) {
        try {
          types[i].enc(w, v[names[i]]);
        } catch (e) {
          throw within(e, names[i]);
        }
      }
    },
    dec(r) {
      const o = {};
      for (let i = 0; i < names.length; i++) {
        try {
          o[names[i]] = types[i].dec(r);
        } catch (e) {
          throw within(e, names[i]);
        }
      }
      return o;
    },
  };
}

/**
 * An enum: the variant index as a u32 varint, then the variant's fields. `variants` is
 * [[name, type or null], ...]; a unit variant (null) is the string "Name" in JS, any other
 * is {"Name": value}.
 */
function enumeration(typeName, variants) {
  const index = new Map(variants.map(([name], i) => [name, i]));
  return {
    typeName,
    types: variants.length,
    enc(w, v) {
      let name;
      let body;
      if (typeof v === 'string') {
        name = v;
      } else if (v !== null && typeof v === 'object') {
        const keys = Object.keys(v);
        if (keys.length !== 1) throw badValue(`one ${typeName} variant as {"Name": fields}`, v);
        name = keys[0];
        body = v[name];
      } else {
        throw badValue(`a ${typeName} variant`, v);
      }
      const i = index.get(name);
      if (i === undefined) throw badValue(`a ${typeName} variant`, name);
      const type = variants[i][1];
      if ((type === null) !== (typeof v === 'string')) {
        throw badValue(type === null ? `"${name}" as a plain string` : `{"${name}": fields}`, v);
      }
      w.varint(i);
      if (type !== null) {
        try {
          type.enc(w, body);
        } catch (e) {
          throw within(e, name);
        }
      }
    },
    dec(r) {
      const i = r.varint(U32_BYTE);
      if (i >= variants.length) {
        throw new CodecError('BAD_FRAME', `variant ${i} of ${typeName} does not exist`);
      }
      const [name, type] = variants[i];
      if (type === null) return name;
      try {
        return { [name]: type.dec(r) };
      } catch (e) {
        throw within(e, name);
      }
    },
  };
}

// The frames, as in protocol/src/frames.rs: the order of variants and fields is the wire format.

const Hello = struct([['version', u16], ['nick', string], ['token', option(string)]]);
const ResumePoint = struct([['epoch', u64], ['seq', u64]]);
const Limits = struct([
  ['max_text_bytes', u32],
  ['max_rooms', u32],
  ['msgs_per_sec', u32],
  ['msgs_burst', u32],
  ['history_page', u16],
]);
const Welcome = struct([
  ['version', u16],
  ['node_id', string],
  ['session_id', u64],
  ['nick', string],
  ['limits', Limits],
]);
const ResumeOutcome = enumeration('ResumeOutcome', [
  ['Live', null],
  ['Resumed', null],
  ['EpochChanged', null],
  ['Truncated', struct([['first_seq', u64]])],
]);
const Joined = struct([
  ['id', u32],
  ['room', string],
  ['epoch', u64],
  ['last_seq', u64],
  ['members', list(string)],
  ['resume', ResumeOutcome],
]);
const Message = struct([
  ['room', string],
  ['seq', u64],
  ['epoch', u64],
  ['from', string],
  ['ts', u64],
  ['text', string],
]);
const HistoryPage = struct([
  ['id', u32],
  ['room', string],
  ['epoch', u64],
  ['messages', list(Message)],
  ['more', bool],
]);
// ErrorCode is a newtype struct: on the wire and in JSON, just its u16.
const ErrorFrame = struct([['id', u32], ['code', u16], ['message', string]]);

/** Frames a client sends on its control stream. */
export const ClientFrame = enumeration('ClientFrame', [
  ['Hello', Hello],
  ['Join', struct([['id', u32], ['room', string], ['resume', option(ResumePoint)]])],
  ['Leave', struct([['id', u32], ['room', string]])],
  ['Send', struct([['id', u32], ['room', string], ['text', string]])],
  ['History', struct([['id', u32], ['room', string], ['before', option(u64)], ['limit', u16]])],
  ['Who', struct([['id', u32], ['room', string]])],
  ['Ping', struct([['id', u32]])],
]);

/** Frames the relay sends on a session's control stream. */
export const ServerFrame = enumeration('ServerFrame', [
  ['Welcome', Welcome],
  ['Joined', Joined],
  ['Left', struct([['id', u32], ['room', string]])],
  ['Sent', struct([['id', u32], ['room', string], ['epoch', u64], ['seq', u64], ['ts', u64]])],
  ['History', HistoryPage],
  ['Members', struct([['id', u32], ['room', string], ['members', list(string)]])],
  ['Pong', struct([['id', u32], ['ts', u64]])],
  ['Error', ErrorFrame],
  ['GoAway', struct([['reconnect_ms', u32], ['message', string]])],
]);

/** Frames on a room stream (server to client, one stream per joined room). */
export const RoomFrame = enumeration('RoomFrame', [
  ['Open', struct([['room', string], ['epoch', u64]])],
  ['Message', Message],
  ['Presence', struct([['nick', string], ['joined', bool]])],
]);

/** Datagrams a client sends. */
export const ClientDatagram = enumeration('ClientDatagram', [['Typing', struct([['room', string]])]]);

/** Datagrams the relay sends. */
export const ServerDatagram = enumeration('ServerDatagram', [
  ['Typing', struct([['room', string], ['nick', string]])],
]);

// ---------------------------------------------------------------------------------------
// Frames and datagrams

// One scratch writer: encoding is synchronous, and the result is copied out.
const scratch = new Writer();
// A scratch buffer that grew past this for one large frame is dropped afterwards, so one
// History page does not pin a large buffer for the page's lifetime.
const SCRATCH_KEEP = 64 * 1024;

function encodeWith(type, value, offset, limit) {
  scratch.pos = offset;
  try {
    type.enc(scratch, value);
    const len = scratch.pos - offset;
    if (len > limit) {
      throw new CodecError('FRAME_TOO_LARGE', `frame of ${len} bytes is over the limit of ${limit}`);
    }
    if (offset === LEN_PREFIX) {
      const b = scratch.buf;
      b[0] = len >>> 24;
      b[1] = (len >>> 16) & 0xff;
      b[2] = (len >>> 8) & 0xff;
      b[3] = len & 0xff;
    }
    return scratch.buf.slice(0, scratch.pos);
  } catch (e) {
    throw located(e, type.typeName);
  } finally {
    if (scratch.buf.length > SCRATCH_KEEP) scratch.buf = new Uint8Array(1024);
  }
}

/** Encodes `value` (of frame type `type`, e.g. ClientFrame) as a stream frame: prefix and body. */
export function encodeFrame(type, value) {
  return encodeWith(type, value, LEN_PREFIX, MAX_FRAME_LEN);
}

/** Encodes a datagram (no length prefix). */
export function encodeDatagram(type, value) {
  return encodeWith(type, value, 0, MAX_DATAGRAM_LEN);
}

/** Decodes a datagram. */
export function decodeDatagram(type, bytes) {
  if (bytes.length > MAX_DATAGRAM_LEN) {
    throw new CodecError('FRAME_TOO_LARGE', `datagram of ${bytes.length} bytes is over the limit of ${MAX_DATAGRAM_LEN}`);
  }
  return decodeBody(type, bytes);
}

/**
 * Decodes one frame body (the bytes after the length prefix). The whole body must be one
 * value: leftover bytes are an error.
 */
export function decodeBody(type, body) {
  if (body.length === 0) throw new CodecError('BAD_FRAME', 'empty frame');
  const tag = peekVarint(body);
  if (tag !== undefined && tag >= type.types) {
    throw new CodecError('UNKNOWN_FRAME', `unknown frame type ${tag}`);
  }
  const r = new Reader(body);
  let value;
  try {
    value = type.dec(r);
  } catch (e) {
    throw located(e, type.typeName);
  }
  if (r.pos !== body.length) {
    throw new CodecError('BAD_FRAME', `${body.length - r.pos} bytes left over after the frame`);
  }
  return value;
}

/**
 * The frame type: the body's first varint read in any form up to u64, as the Rust codec reads
 * it; undefined if cut short or not a varint (decoding then reports BAD_FRAME). Values above
 * 2^53 lose precision, which does not matter: they are all unknown types.
 */
function peekVarint(b) {
  const first = b[0];
  if (first < U16_BYTE) return first;
  const width = first === U16_BYTE ? 2 : first === U32_BYTE ? 4 : first === U64_BYTE ? 8 : 0;
  if (width === 0 || b.length < 1 + width) return undefined;
  let v = 0;
  for (let i = width; i >= 1; i--) v = v * 256 + b[i];
  return v;
}

/**
 * Turns the chunks of one stream into whole frames of one type.
 *
 *   const reader = new FrameReader(ServerFrame);
 *   reader.push(chunk);                  // throws on a bad length prefix at once
 *   for (const frame of reader) handle(frame);
 *   reader.finish();                     // at end of stream: throws if a frame was cut short
 *
 * A length over the limit (or zero) is refused as soon as its 4 bytes are here, before
 * anything is buffered for it. Errors are CodecErrors; after one, close the stream.
 */
export class FrameReader {
  constructor(type, maxLen = MAX_FRAME_LEN) {
    this.type = type;
    this.maxLen = maxLen;
    this.buf = new Uint8Array(4096);
    this.start = 0;
    this.end = 0;
  }

  /** Bytes received and not yet returned as frames. */
  get pending() {
    return this.end - this.start;
  }

  /** Appends a chunk read from the stream. */
  push(chunk) {
    const n = chunk.length;
    if (n > this.buf.length - this.end) {
      const live = this.end - this.start;
      if (live + n <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const next = new Uint8Array(Math.max(this.buf.length * 2, live + n));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += n;
    this.#bodyLength();
  }

  /** The next whole frame, or undefined if more bytes are needed. */
  nextFrame() {
    const len = this.#bodyLength();
    if (len === undefined || this.end - this.start - LEN_PREFIX < len) return undefined;
    const bodyStart = this.start + LEN_PREFIX;
    const bodyEnd = bodyStart + len;
    if (bodyEnd === this.end) {
      this.start = 0;
      this.end = 0;
    } else {
      this.start = bodyEnd;
    }
    // Decoding copies everything out (strings, numbers), so the buffer may be reused after.
    return decodeBody(this.type, this.buf.subarray(bodyStart, bodyEnd));
  }

  /** Yields every whole frame received so far. */
  *[Symbol.iterator]() {
    let frame;
    while ((frame = this.nextFrame()) !== undefined) yield frame;
  }

  /** Call at end of stream: throws BAD_FRAME if a frame was cut short. */
  finish() {
    if (this.pending !== 0) {
      throw new CodecError('BAD_FRAME', `stream ended inside a frame (${this.pending} bytes pending)`);
    }
  }

  /** The announced body length of the next frame, once its prefix is complete. */
  #bodyLength() {
    if (this.end - this.start < LEN_PREFIX) return undefined;
    const b = this.buf;
    const s = this.start;
    const len = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
    if (len > this.maxLen) {
      throw new CodecError('FRAME_TOO_LARGE', `frame of ${len} bytes is over the limit of ${this.maxLen}`);
    }
    if (len === 0) throw new CodecError('BAD_FRAME', 'empty frame');
    return len;
  }
}

// ---------------------------------------------------------------------------------------
// Validation: protocol/src/validate.rs, so the UI can check before sending. Each returns
// null when the value is fine, else {code, name, message}.

const NICK_BAD_CHAR = /[^\p{Alphabetic}\p{N}_.-]/u;
const ROOM_BAD_CHAR = /[^A-Za-z0-9_.-]/u;
const ALL_WHITE_SPACE = /^\p{White_Space}*$/u;
// General category Cc, except tab and newline.
const CONTROL = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/;

function invalid(name, message) {
  return { code: ErrorCode[name], name, message };
}

/** UTF-8 length of a string, without encoding it (a lone surrogate counts as U+FFFD). */
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function codePoints(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    n++;
  }
  return n;
}

/** Shows a character the way Rust's `{:?}` does, near enough for people. */
function quoteChar(c) {
  const escapes = { '\0': '\\0', '\t': '\\t', '\n': '\\n', '\r': '\\r', "'": "\\'", '\\': '\\\\' };
  if (escapes[c]) return `'${escapes[c]}'`;
  if (/^[\p{C}\p{Z}]$/u.test(c) && c !== ' ') return `'\\u{${c.codePointAt(0).toString(16)}}'`;
  return `'${c}'`;
}

/** A nick is 1 to 32 characters, each a letter or digit (any script) or one of `_ - .`. */
export function validateNick(nick) {
  const chars = codePoints(nick);
  if (chars === 0) return invalid('INVALID_NICK', 'nick is empty');
  if (chars > MAX_NICK_CHARS) {
    return invalid('INVALID_NICK', `nick is ${chars} characters; the most is ${MAX_NICK_CHARS}`);
  }
  const bad = NICK_BAD_CHAR.exec(nick);
  if (bad) {
    return invalid('INVALID_NICK', `nick may not contain ${quoteChar(bad[0])}: use letters, digits, '_', '-' or '.'`);
  }
  return null;
}

/**
 * A room name is 1 to 64 ASCII letters, digits, `_`, `-` or `.`, starting with a letter or
 * digit. Names are case-sensitive.
 */
export function validateRoom(room) {
  if (room.length === 0) return invalid('INVALID_ROOM', 'room name is empty');
  const bytes = utf8Length(room);
  if (bytes > MAX_ROOM_LEN) {
    return invalid('INVALID_ROOM', `room name is ${bytes} bytes; the most is ${MAX_ROOM_LEN}`);
  }
  if (!/^[A-Za-z0-9]/.test(room)) {
    return invalid('INVALID_ROOM', 'room name must start with a letter or digit');
  }
  const bad = ROOM_BAD_CHAR.exec(room);
  if (bad) {
    return invalid('INVALID_ROOM', `room name may not contain ${quoteChar(bad[0])}: use a-z, A-Z, 0-9, '_', '-' or '.'`);
  }
  return null;
}

/**
 * A text is 1 to `maxBytes` bytes of UTF-8 (Welcome's limits.max_text_bytes), not only white
 * space, with no control characters other than newline and tab.
 */
export function validateText(text, maxBytes) {
  const bytes = utf8Length(text);
  if (bytes > maxBytes) {
    return invalid('TEXT_TOO_LONG', `message is ${bytes} bytes; the most is ${maxBytes}`);
  }
  if (ALL_WHITE_SPACE.test(text)) return invalid('INVALID_TEXT', 'message is empty');
  if (CONTROL.test(text)) return invalid('INVALID_TEXT', 'message holds control characters');
  // Rust strings cannot hold a lone surrogate; the encoder would refuse it.
  if (!isWellFormed(text)) return invalid('INVALID_TEXT', 'message holds an unpaired surrogate');
  return null;
}
