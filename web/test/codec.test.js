// The JavaScript codec against the bytes the Rust protocol crate generates
// (protocol/vectors/frames.json), plus framing, limits and the validation rules.
// Run: node --test web/test/   (or `npm test` in web/)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as codec from '../js/codec.js';

const {
  ClientFrame,
  ServerFrame,
  RoomFrame,
  ClientDatagram,
  ServerDatagram,
  CodecError,
  FrameReader,
  decodeBody,
  decodeDatagram,
  encodeDatagram,
  encodeFrame,
  validateNick,
  validateRoom,
  validateText,
} = codec;

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const protocolDoc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

const TYPES = {
  client: ClientFrame,
  server: ServerFrame,
  room: RoomFrame,
  client_datagram: ClientDatagram,
  server_datagram: ServerDatagram,
};

const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, 'hex'));
const toHex = (bytes) => Buffer.from(bytes).toString('hex');
const isDatagram = (channel) => channel.endsWith('datagram');

/** Every frame in `bytes`, fed to a FrameReader in the given chunks; finish() must pass. */
function readAll(type, chunks) {
  const reader = new FrameReader(type);
  const frames = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (const frame of reader) frames.push(frame);
  }
  reader.finish();
  return frames;
}

/** Asserts that `fn` throws a CodecError named `code`. */
function assertCodecError(fn, code, what) {
  assert.throws(
    fn,
    (e) => {
      assert.ok(e instanceof CodecError, `${what}: ${e} is not a CodecError`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.equal(e.wireCode, codec.ErrorCode[code], what);
      return true;
    },
    what,
  );
}

/** The shortest bincode varint, written independently of the codec. */
function varint(n) {
  if (n < 251) return [n];
  if (n <= 0xffff) return [251, n & 0xff, n >>> 8];
  return [252, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

function frameOf(body) {
  const n = body.length;
  return Uint8Array.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...body]);
}

describe('vectors file', () => {
  test('constants agree with the Rust crate', () => {
    assert.equal(codec.PROTOCOL_VERSION, vectors.protocol_version);
    assert.equal(codec.MAX_FRAME_LEN, vectors.max_frame_len);
    assert.equal(codec.MAX_DATAGRAM_LEN, vectors.max_datagram_len);
  });

  test('error code table agrees with the Rust crate', () => {
    const ours = codec.ERROR_CODES.map(({ code, name, description, fatal }) => ({ code, name, description, fatal }));
    assert.deepEqual(ours, vectors.error_codes);
    for (const e of vectors.error_codes) {
      assert.equal(codec.ErrorCode[e.name], e.code);
      assert.equal(codec.isFatal(e.code), e.fatal, e.name);
      assert.deepEqual({ ...codec.errorInfo(e.code) }, e);
    }
    assert.deepEqual(codec.errorInfo(999), { code: 999, name: 'UNKNOWN', description: 'unknown error', fatal: false });
  });

  test('there are vectors for every channel', () => {
    const channels = new Set(vectors.valid.map((v) => v.channel));
    assert.deepEqual([...channels].sort(), Object.keys(TYPES).sort());
    assert.ok(vectors.invalid.length >= 6);
  });
});

describe('valid vectors', () => {
  for (const v of vectors.valid) {
    const type = TYPES[v.channel];
    test(`${v.name} (${v.channel}) decodes to its value`, () => {
      const bytes = fromHex(v.hex);
      const decoded = isDatagram(v.channel) ? decodeDatagram(type, bytes) : readAll(type, [bytes]);
      assert.deepEqual(decoded, isDatagram(v.channel) ? v.value : [v.value]);
    });
    test(`${v.name} (${v.channel}) encodes to its bytes`, () => {
      const bytes = isDatagram(v.channel) ? encodeDatagram(type, v.value) : encodeFrame(type, v.value);
      assert.ok(bytes instanceof Uint8Array);
      assert.equal(toHex(bytes), v.hex);
    });
  }
});

describe('invalid vectors', () => {
  for (const v of vectors.invalid) {
    test(`${v.name} is refused with ${v.error}`, () => {
      const reader = new FrameReader(TYPES[v.channel]);
      assertCodecError(
        () => {
          reader.push(fromHex(v.hex));
          reader.nextFrame();
        },
        v.error,
        v.name,
      );
    });
  }
});

describe('stream framing', () => {
  const streams = ['client', 'server', 'room'].map((channel) => {
    const list = vectors.valid.filter((v) => v.channel === channel);
    return {
      channel,
      values: list.map((v) => v.value),
      bytes: Uint8Array.from(list.flatMap((v) => [...fromHex(v.hex)])),
    };
  });

  for (const { channel, values, bytes } of streams) {
    test(`${channel} frames split in two at every byte boundary decode whole`, () => {
      for (let i = 0; i <= bytes.length; i++) {
        assert.deepEqual(readAll(TYPES[channel], [bytes.subarray(0, i), bytes.subarray(i)]), values, `split at ${i}`);
      }
    });

    test(`${channel} frames fed one byte at a time decode whole`, () => {
      const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
      assert.deepEqual(readAll(TYPES[channel], chunks), values);
    });

    test(`${channel} frames in one chunk decode whole`, () => {
      assert.deepEqual(readAll(TYPES[channel], [bytes]), values);
    });
  }

  test('the reader does not keep references to pushed chunks', () => {
    const { bytes, values } = streams[0];
    const reader = new FrameReader(ClientFrame);
    const chunk = bytes.slice(0, 20);
    reader.push(chunk);
    chunk.fill(0xff);
    reader.push(bytes.subarray(20));
    assert.deepEqual([...reader], values);
  });

  test('an over-limit length is refused as soon as its prefix is complete', () => {
    for (const prefix of [[0x00, 0x04, 0x00, 0x01], [0xff, 0xff, 0xff, 0xff]]) {
      const reader = new FrameReader(ClientFrame);
      for (const b of prefix.slice(0, 3)) {
        reader.push(Uint8Array.of(b));
        assert.equal(reader.nextFrame(), undefined);
      }
      assertCodecError(() => reader.push(Uint8Array.of(prefix[3])), 'FRAME_TOO_LARGE', 'prefix byte 4');
    }
  });

  test('an over-limit length after a whole frame is refused when reached', () => {
    const reader = new FrameReader(ClientFrame);
    reader.push(Uint8Array.from([...encodeFrame(ClientFrame, { Ping: { id: 1 } }), 0xff, 0xff, 0xff, 0xff]));
    assert.deepEqual(reader.nextFrame(), { Ping: { id: 1 } });
    assertCodecError(() => reader.nextFrame(), 'FRAME_TOO_LARGE', 'second prefix');
  });

  test('a frame at the limit decodes and one byte more is refused', () => {
    // Send { id: 1, room: "r", text }: tag 1, id 1, room 2, text length varint 5.
    const overhead = 1 + 1 + 2 + 5;
    const atLimit = { Send: { id: 1, room: 'r', text: 'a'.repeat(codec.MAX_FRAME_LEN - overhead) } };
    const bytes = encodeFrame(ClientFrame, atLimit);
    assert.equal(bytes.length, codec.LEN_PREFIX + codec.MAX_FRAME_LEN);
    assert.deepEqual(readAll(ClientFrame, [bytes]), [atLimit]);
    const over = { Send: { id: 1, room: 'r', text: 'a'.repeat(codec.MAX_FRAME_LEN - overhead + 1) } };
    assertCodecError(() => encodeFrame(ClientFrame, over), 'FRAME_TOO_LARGE', 'encode over the limit');
  });

  test('end of stream inside a frame is BAD_FRAME', () => {
    const bytes = encodeFrame(ClientFrame, { Ping: { id: 9 } });
    for (let cut = 1; cut < bytes.length; cut++) {
      const reader = new FrameReader(ClientFrame);
      reader.push(bytes.subarray(0, cut));
      assert.equal(reader.nextFrame(), undefined);
      assertCodecError(() => reader.finish(), 'BAD_FRAME', `cut at ${cut}`);
    }
  });

  test('a bad frame in the middle of a stream fails after the good ones', () => {
    const good = encodeFrame(ClientFrame, { Ping: { id: 1 } });
    const reader = new FrameReader(ClientFrame);
    reader.push(Uint8Array.from([...good, 0, 0, 0, 1, 18, ...good]));
    assert.deepEqual(reader.nextFrame(), { Ping: { id: 1 } });
    assertCodecError(() => reader.nextFrame(), 'UNKNOWN_FRAME', 'type 18');
  });

  test('large frames survive buffer growth and compaction', () => {
    const page = {
      History: {
        id: 4,
        room: 'lobby',
        epoch: 1_764_000_000_000,
        messages: Array.from({ length: 100 }, (_, i) => ({
          room: 'lobby',
          seq: i + 1,
          epoch: 1_764_000_000_000,
          from: `user${i}`,
          ts: 1_764_000_123_456 + i,
          text: `message ${i} ✓ `.repeat(50),
        })),
        more: true,
      },
    };
    const one = encodeFrame(ServerFrame, page);
    assert.ok(one.length > 70_000);
    const stream = Uint8Array.from([...one, ...one, ...one]);
    for (const size of [1000, 4096, 65_536, 100_000]) {
      const chunks = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      assert.deepEqual(readAll(ServerFrame, chunks), [page, page, page], `chunks of ${size}`);
    }
  });
});

describe('datagrams', () => {
  test('an oversized datagram is refused both ways', () => {
    assertCodecError(
      () => encodeDatagram(ClientDatagram, { Typing: { room: 'r'.repeat(codec.MAX_DATAGRAM_LEN) } }),
      'FRAME_TOO_LARGE',
      'encode',
    );
    assertCodecError(() => decodeDatagram(ClientDatagram, new Uint8Array(codec.MAX_DATAGRAM_LEN + 1)), 'FRAME_TOO_LARGE', 'decode');
  });

  test('a datagram at the limit round-trips', () => {
    // Typing { room }: tag 1, room length varint 3.
    const value = { Typing: { room: 'r'.repeat(codec.MAX_DATAGRAM_LEN - 4) } };
    const bytes = encodeDatagram(ClientDatagram, value);
    assert.equal(bytes.length, codec.MAX_DATAGRAM_LEN);
    assert.deepEqual(decodeDatagram(ClientDatagram, bytes), value);
  });

  test('an empty datagram is BAD_FRAME and an unknown one UNKNOWN_FRAME', () => {
    assertCodecError(() => decodeDatagram(ServerDatagram, new Uint8Array(0)), 'BAD_FRAME', 'empty');
    assertCodecError(() => decodeDatagram(ServerDatagram, Uint8Array.of(1, 1, 0x61)), 'UNKNOWN_FRAME', 'type 1');
  });
});

describe('integers', () => {
  const message = (seq) => ({
    Message: { room: 'r', seq, epoch: 1, from: 'a', ts: 2, text: 'x' },
  });

  test('every varint width round-trips at its edges', () => {
    for (const seq of [0, 250, 251, 0xffff, 0x10000, 0xffffffff, 0x100000000, 5_000_000_000, Number.MAX_SAFE_INTEGER]) {
      const bytes = encodeFrame(RoomFrame, message(seq));
      assert.deepEqual(readAll(RoomFrame, [bytes]), [message(seq)], `seq ${seq}`);
    }
    // Exact forms: 250 is one byte, 251 takes the u16 form, 2^32 the u64 form.
    assert.equal(toHex(encodeFrame(ClientFrame, { Ping: { id: 250 } })), '0000000206fa');
    assert.equal(toHex(encodeFrame(ClientFrame, { Ping: { id: 251 } })), '0000000406fbfb00');
    assert.equal(toHex(encodeFrame(ClientFrame, { Ping: { id: 65536 } })), '0000000606fc00000100');
    assert.equal(
      toHex(encodeFrame(ClientFrame, { History: { id: 1, room: 'r', before: 2 ** 32, limit: 1 } })),
      '0000000f0401017201fd000000000100000001',
    );
  });

  test('a u64 above 2^53 - 1 is refused with a clear error', () => {
    assert.throws(
      () => encodeFrame(RoomFrame, message(2 ** 53)),
      (e) => e instanceof CodecError && e.code === 'BAD_FRAME' && /2\^53/.test(e.message) && /seq/.test(e.message),
    );
    // seq = 2^53 on the wire: fd 00 00 00 00 00 00 20 00.
    const body = fromHex('0101' + '72' + 'fd0000000000002000' + '01' + '0161' + '02' + '0178');
    assert.throws(
      () => decodeBody(RoomFrame, body),
      (e) => e instanceof CodecError && e.code === 'BAD_FRAME' && /2\^53/.test(e.message) && /seq/.test(e.message),
    );
    // 2^53 - 1 is fine.
    const safe = fromHex('0101' + '72' + 'fdffffffffffff1f00' + '01' + '0161' + '02' + '0178');
    assert.equal(decodeBody(RoomFrame, safe).Message.seq, Number.MAX_SAFE_INTEGER);
  });

  test('integers out of a field range or not integers are refused when encoding', () => {
    for (const id of [-1, 1.5, 2 ** 32, '1', null, undefined, 1n]) {
      assertCodecError(() => encodeFrame(ClientFrame, { Ping: { id } }), 'BAD_FRAME', `id ${String(id)}`);
    }
    assertCodecError(
      () => encodeFrame(ClientFrame, { History: { id: 1, room: 'r', before: null, limit: 65536 } }),
      'BAD_FRAME',
      'u16 limit',
    );
  });
});

// Decoder behaviour on hand-made bodies, as chitchat-protocol's decode_body answers them
// (each checked against the Rust crate when written).
describe('decoding like the Rust crate', () => {
  const cases = [
    // [what, type, body hex, expected value or error name]
    ['a non-minimal varint is accepted', ClientFrame, '06fb0500', { Ping: { id: 5 } }],
    ['a frame type in u32 form below the count is accepted', ClientFrame, 'fc0600000001', { Ping: { id: 1 } }],
    ['a frame type in u16 form at the count is unknown', ClientFrame, 'fb1200', 'UNKNOWN_FRAME'],
    ['a frame type in u64 form above the count is unknown', ClientFrame, 'fdffffffffffffffff', 'UNKNOWN_FRAME'],
    ['a frame type in u64 form below the count is malformed', ClientFrame, 'fd0600000000000000' + '01', 'BAD_FRAME'],
    ['a frame type byte 254 is malformed', ClientFrame, 'fe01', 'BAD_FRAME'],
    ['a cut-short frame type is malformed', ClientFrame, 'fb01', 'BAD_FRAME'],
    ['a u32 field in u64 form is malformed', ClientFrame, '06fd0100000000000000', 'BAD_FRAME'],
    ['a u16 field in u32 form is malformed', ClientFrame, '00fc01000000016100', 'BAD_FRAME'],
    ['an option byte 2 is malformed', ClientFrame, '0001016102', 'BAD_FRAME'],
    ['a boolean byte 2 is malformed', RoomFrame, '02016102', 'BAD_FRAME'],
    ['an unknown nested variant is malformed', ServerFrame, '0101017201000004', 'BAD_FRAME'],
    ['a string running past the body is malformed', ClientFrame, '0201fbe803', 'BAD_FRAME'],
    ['a string length byte 254 is malformed', ClientFrame, '0201fe', 'BAD_FRAME'],
    ['an overlong UTF-8 form is invalid UTF-8', ClientFrame, '020102c080', 'INVALID_UTF8'],
    ['an encoded surrogate is invalid UTF-8', ClientFrame, '020103eda080', 'INVALID_UTF8'],
    ['invalid UTF-8 is reported before a later problem', ClientFrame, '030101ff05', 'INVALID_UTF8'],
    ['a leading byte order mark is text, kept', ClientFrame, '020103efbbbf', { Leave: { id: 1, room: '\uFEFF' } }],
    ['a list longer than the body is malformed', ServerFrame, '05010172fc00000100', 'BAD_FRAME'],
  ];
  for (const [what, type, hex, expected] of cases) {
    test(what, () => {
      if (typeof expected === 'string') {
        assertCodecError(() => decodeBody(type, fromHex(hex)), expected, what);
      } else {
        assert.deepEqual(decodeBody(type, fromHex(hex)), expected);
      }
    });
  }
});

describe('encoding', () => {
  test('strings at every varint size boundary encode in the shortest form', () => {
    for (const [unit, count] of [['a', 250], ['a', 251], ['é', 83], ['é', 84], ['é', 125], ['é', 126], ['✓', 83], ['😀', 63], ['a', 65535], ['a', 65536], ['é', 40000]]) {
      const text = unit.repeat(count);
      const utf8 = [...Buffer.from(text, 'utf8')];
      const expected = frameOf([3, 1, 1, 0x72, ...varint(utf8.length), ...utf8]);
      const bytes = encodeFrame(ClientFrame, { Send: { id: 1, room: 'r', text } });
      assert.equal(toHex(bytes), toHex(expected), `${count} x ${unit}`);
      assert.deepEqual(readAll(ClientFrame, [bytes]), [{ Send: { id: 1, room: 'r', text } }]);
    }
  });

  test('a lone surrogate is refused as INVALID_UTF8', () => {
    for (const text of ['a\uD800', '\uDC00b', 'x\uD83D']) {
      assertCodecError(() => encodeFrame(ClientFrame, { Send: { id: 1, room: 'r', text } }), 'INVALID_UTF8', JSON.stringify(text));
    }
  });

  test('options accept null and a missing field as None', () => {
    const hex = '0000000a0404056c6f6262790032';
    assert.equal(toHex(encodeFrame(ClientFrame, { History: { id: 4, room: 'lobby', before: null, limit: 50 } })), hex);
    assert.equal(toHex(encodeFrame(ClientFrame, { History: { id: 4, room: 'lobby', limit: 50 } })), hex);
  });

  test('values of the wrong shape are refused with the field named', () => {
    const bad = [
      [ClientFrame, 'Ping', /expected \{"Ping": fields\}, got "Ping"/],
      [ClientFrame, { Nope: {} }, /expected a ClientFrame variant/],
      [ClientFrame, { Ping: { id: 1 }, Who: { id: 2, room: 'r' } }, /one ClientFrame variant/],
      [ClientFrame, { Join: { id: 1, room: 7, resume: null } }, /ClientFrame\.Join\.room: expected a string/],
      [ServerFrame, { Members: { id: 1, room: 'r', members: ['a', 2] } }, /ServerFrame\.Members\.members\.1:/],
      [ServerFrame, { Joined: { id: 1, room: 'r', epoch: 1, last_seq: 0, members: [], resume: { Live: null } } }, /"Live" as a plain string/],
      [ServerFrame, { Joined: { id: 1, room: 'r', epoch: 1, last_seq: 0, members: [], resume: 'Truncated' } }, /\{"Truncated": fields\}/],
      [RoomFrame, { Presence: { nick: 'a', joined: 1 } }, /expected a boolean/],
      [RoomFrame, null, /expected a RoomFrame variant/],
    ];
    for (const [type, value, message] of bad) {
      assert.throws(
        () => encodeFrame(type, value),
        (e) => e instanceof CodecError && e.code === 'BAD_FRAME' && message.test(e.message),
        JSON.stringify(value),
      );
    }
  });

  test('a failed encode does not disturb the next one', () => {
    assert.throws(() => encodeFrame(ClientFrame, { Send: { id: 1, room: 'r', text: 'x'.repeat(300_000) } }));
    assert.equal(toHex(encodeFrame(ClientFrame, { Ping: { id: 1 } })), '000000020601');
  });
});

// The same cases as the unit tests in protocol/src/validate.rs, and a few more.
describe('validation', () => {
  test('nicks', () => {
    for (const ok of ['ada', 'Zoë', 'a.b-c_d', '李雷', 'x'.repeat(32)]) {
      assert.equal(validateNick(ok), null, ok);
    }
    for (const bad of ['', 'a b', 'a\nb', '<script>', 'x'.repeat(33), '😀', 'a\uD800', 'ǅ²']) {
      const e = validateNick(bad);
      assert.equal(e?.code, codec.ErrorCode.INVALID_NICK, JSON.stringify(bad));
      assert.equal(e.name, 'INVALID_NICK');
    }
    // 32 characters outside the BMP are 64 UTF-16 units and still one nick's worth.
    assert.equal(validateNick('𠀀'.repeat(32)), null);
    assert.match(validateNick('𠀀'.repeat(33)).message, /33 characters; the most is 32/);
    assert.match(validateNick('a b').message, /may not contain ' '/);
  });

  test('rooms', () => {
    for (const ok of ['lobby', 'Room-1', 'a', '0.x_y', 'r'.repeat(64)]) {
      assert.equal(validateRoom(ok), null, ok);
    }
    for (const bad of ['', '-x', '.x', 'a b', 'café', 'a/b', 'r'.repeat(65), 'é', 'ü'.repeat(40)]) {
      assert.equal(validateRoom(bad)?.code, codec.ErrorCode.INVALID_ROOM, JSON.stringify(bad));
    }
    assert.match(validateRoom('ü'.repeat(40)).message, /80 bytes; the most is 64/);
  });

  test('texts', () => {
    assert.equal(validateText('hi\n\tthere ✓', 4096), null);
    assert.equal(validateText('é'.repeat(2048), 4096), null);
    const e = validateText('é'.repeat(2049), 4096);
    assert.equal(e.code, codec.ErrorCode.TEXT_TOO_LONG);
    assert.match(e.message, /4098 bytes; the most is 4096/);
    for (const bad of ['', '   ', 'a\u0000b', 'bell\u0007', 'cr\r', 'del\u007f', 'c1\u0085x', '\u2003\u3000', 'a\uDC00']) {
      assert.equal(validateText(bad, 4096)?.code, codec.ErrorCode.INVALID_TEXT, JSON.stringify(bad));
    }
    // U+FEFF is not White_Space in Rust's trim (String.prototype.trim would strip it) and not
    // a control character, but it draws nothing: a text of it alone is invisible, as in Rust.
    assert.match(validateText('\uFEFF', 4096).message, /nothing visible/);
    assert.equal(validateText('\uFEFFa', 4096), null);
    assert.equal(validateText('😀', 4), null);
    assert.equal(validateText('😀', 3)?.code, codec.ErrorCode.TEXT_TOO_LONG);
  });

  test('utf8Length agrees with TextEncoder', () => {
    for (const s of ['', 'a', 'é', '✓', '😀', 'a\uD800b', '\uDC00', 'mixed ✓ é 😀 text']) {
      assert.equal(codec.utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
    }
  });
});

// docs/protocol.md copies vectors and the error table: hold it to the file it copies from.
describe('docs/protocol.md', () => {
  test('worked examples are the vectors, annotated byte for byte', () => {
    const examples = [...protocolDoc.matchAll(/^### Example: `([\w-]+)`[^\n]*\n([\s\S]*?)(?=^##)/gm)];
    assert.ok(examples.length >= 3, 'at least three worked examples');
    for (const [, name, section] of examples) {
      const v = vectors.valid.find((x) => x.name === name);
      assert.ok(v, `example ${name} is a vector`);
      const shown = /^ {4}([0-9a-f]+)$/m.exec(section)?.[1];
      assert.equal(shown, v.hex, `${name}: hex as in the vectors`);
      const value = /^Value: `(.*)`$/m.exec(section)?.[1];
      assert.deepEqual(JSON.parse(value), v.value, `${name}: value as in the vectors`);
      const annotated = [...section.matchAll(/^\| `([0-9a-f ]+)` \|/gm)].map((m) => m[1].replaceAll(' ', '')).join('');
      assert.equal(annotated, v.hex, `${name}: the annotation covers every byte in order`);
    }
  });

  test('the error code table is the vectors table', () => {
    const section = protocolDoc.split(/^## /m).find((s) => s.startsWith('Error codes'));
    assert.ok(section, 'an "Error codes" section');
    const rows = [...section.matchAll(/^\| (\d+) \| `(\w+)` \| ([^|]+) \| (yes|no) \|/gm)].map(
      ([, code, name, description, fatal]) => ({ code: Number(code), name, description: description.trim(), fatal: fatal === 'yes' }),
    );
    assert.deepEqual(
      rows,
      vectors.error_codes.map(({ code, name, description, fatal }) => ({ code, name, description, fatal })),
    );
  });
});
