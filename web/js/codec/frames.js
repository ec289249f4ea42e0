// The frames and datagrams (protocol/src/frames.rs) and their framing on streams: encoding,
// decoding, and the reader that turns a stream's chunks into whole frames.

import { LEN_PREFIX, MAX_DATAGRAM_LEN, MAX_FRAME_LEN } from './constants.js';
import { CodecError, located } from './errors.js';
import { Reader, U16_BYTE, U32_BYTE, U64_BYTE, Writer, bool, enumeration, list, option, string, struct, u16, u32, u64 } from './types.js';

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
const RoomSummary = struct([
  ['name', string],
  ['topic', string],
  ['members', u32],
  ['last_seq', u64],
  ['last_activity_ms', u64],
  ['created_by', string],
]);
// Version 2: log entries and messages in their latest state.
const EntryBody = enumeration('EntryBody', [
  ['Text', struct([['text', string], ['reply_to', option(u64)]])],
  ['Edit', struct([['target', u64], ['text', string]])],
  ['Delete', struct([['target', u64]])],
  ['React', struct([['target', u64], ['emoji', string], ['on', bool]])],
]);
const EntryHead = [
  ['room', string],
  ['seq', u64],
  ['epoch', u64],
  ['from', string],
  ['ts', u64],
];
const Entry = struct([...EntryHead, ['body', EntryBody]]);
const ReactionCount = struct([['emoji', string], ['nicks', list(string)]]);
const MessageState = struct([
  ['seq', u64],
  ['from', string],
  ['ts', u64],
  ['text', string],
  ['reply_to', option(u64)],
  ['edited_ts', u64],
  ['deleted', bool],
  ['reactions', list(ReactionCount)],
]);
const EntryPage = struct([
  ['id', u32],
  ['room', string],
  ['epoch', u64],
  ['messages', list(MessageState)],
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
  ['SendOnce', struct([['id', u32], ['room', string], ['text', string], ['send_id', u64]])],
  ['Refresh', struct([['id', u32], ['token', string]])],
  ['ListRooms', struct([['id', u32], ['search', string], ['after', option(string)], ['limit', u16]])],
  ['CreateRoom', struct([['id', u32], ['room', string], ['topic', string]])],
  ['SetTopic', struct([['id', u32], ['room', string], ['topic', string]])],
  ['Post', struct([['id', u32], ['room', string], ['text', string], ['send_id', u64], ['reply_to', option(u64)]])],
  ['Edit', struct([['id', u32], ['room', string], ['seq', u64], ['text', string]])],
  ['Delete', struct([['id', u32], ['room', string], ['seq', u64]])],
  ['React', struct([['id', u32], ['room', string], ['seq', u64], ['emoji', string], ['on', bool]])],
  ['MarkRead', struct([['id', u32], ['room', string], ['seq', u64]])],
  ['Rename', struct([['id', u32], ['nick', string]])],
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
  ['Refreshed', struct([['id', u32], ['expires_ms', u64]])],
  ['TokenExpiring', struct([['expires_ms', u64]])],
  ['Rooms', struct([['id', u32], ['rooms', list(RoomSummary)], ['next', option(string)]])],
  ['RoomInfo', struct([['id', u32], ['room', RoomSummary]])],
  ['Entries', EntryPage],
  ['ReadMarker', struct([['id', u32], ['room', string], ['seq', u64]])],
  ['Renamed', struct([['id', u32], ['nick', string]])],
]);

/**
 * Frames on a room stream (server to client, one stream per joined room). Forward
 * compatible: FrameReader passes over a frame type or an entry kind it does not know.
 */
export const RoomFrame = {
  ...enumeration('RoomFrame', [
    ['Open', struct([['room', string], ['epoch', u64]])],
    ['Message', Message],
    ['Presence', struct([['nick', string], ['joined', bool]])],
    ['Entry', Entry],
    ['Renamed', struct([['from', string], ['to', string]])],
    ['Topic', struct([['topic', string], ['by', string]])],
  ]),
  skippable: unknownRoomFrame,
};

/** The room frame type that carries an Entry. */
const ENTRY_FRAME = 3;
/** How many room frame types this version knows. */
const ROOM_FRAME_TYPES = 6;
/** How many entry kinds this version knows. */
const ENTRY_KINDS = 4;
const entryHead = struct(EntryHead);

/**
 * Whether a room frame body is of a type, or an entry of a kind, from a later version. A
 * body too short to tell is not: decoding it then reports what is wrong.
 */
function unknownRoomFrame(body) {
  const tag = peekVarint(body);
  if (tag === undefined || tag < ENTRY_FRAME) return false;
  if (tag >= ROOM_FRAME_TYPES) return true;
  if (tag > ENTRY_FRAME) return false;
  const r = new Reader(body);
  r.pos = 1;
  try {
    entryHead.dec(r);
    return r.varint(U64_BYTE) >= ENTRY_KINDS;
  } catch {
    return false;
  }
}

/** Datagrams a client sends. */
export const ClientDatagram = enumeration('ClientDatagram', [['Typing', struct([['room', string]])]]);

/** Datagrams the relay sends. */
export const ServerDatagram = enumeration('ServerDatagram', [
  ['Typing', struct([['room', string], ['nick', string]])],
]);

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

  /**
   * The next whole frame, or undefined if more bytes are needed. Frames the type's
   * `skippable` names (room frames of a later version) are consumed and passed over.
   */
  nextFrame() {
    for (;;) {
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
      const body = this.buf.subarray(bodyStart, bodyEnd);
      if (this.type.skippable?.(body)) continue;
      // Decoding copies everything out (strings, numbers), so the buffer may be reused after.
      return decodeBody(this.type, body);
    }
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
