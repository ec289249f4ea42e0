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
//
// The parts: codec/constants.js (the protocol's numbers), codec/errors.js (the error code
// table, CodecError), codec/types.js (values to and from bytes), codec/frames.js (the frames,
// stream framing, FrameReader), codec/validate.js (the nick, room and text rules). This
// module is their public face: the page and the tests import from it.

export {
  ALPN_CHITCHAT,
  ALPN_H3,
  LEN_PREFIX,
  MAX_DATAGRAM_LEN,
  MAX_DM_MEMBERS,
  MAX_DM_ROOM_LEN,
  MAX_EPOCH,
  MAX_FRAME_LEN,
  MAX_NICK_CHARS,
  MAX_ROOM_LEN,
  MAX_ROOMS_PAGE,
  MAX_TOKEN_LEN,
  MAX_TOPIC_BYTES,
  MAX_EDITS,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  REACTIONS,
} from './codec/constants.js';
export { CodecError, ERROR_CODES, ErrorCode, errorInfo, isFatal } from './codec/errors.js';
export {
  ClientDatagram,
  ClientFrame,
  FrameReader,
  RoomFrame,
  ServerDatagram,
  ServerFrame,
  decodeBody,
  decodeDatagram,
  encodeDatagram,
  encodeFrame,
} from './codec/frames.js';
export { dmMembers, dmRoom, utf8Length, validateNick, validateRoom, validateText, validateTopic } from './codec/validate.js';
