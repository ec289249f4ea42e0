// The JavaScript codec fed the fuzz corpus: every input in fuzz/seeds/ (and in fuzz/corpus/,
// the corpus cargo fuzz grew, when there is one) goes to every decoder of web/js/codec.js.
// Each must return a value that re-encodes to itself or throw the codec's own CodecError,
// never another exception and never hang; inputs made from protocol/vectors/frames.json must
// decode to the vector's value (or fail with its code).
// Run: node --test web/test/   (fuzz/seeds.mjs writes the seeds)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { STREAM_KINDS, TARGET_OF } from '../../fuzz/targets.mjs';
import * as codec from '../js/codec.js';

const { ClientFrame, ServerFrame, RoomFrame, ClientDatagram, ServerDatagram, CodecError, FrameReader, LEN_PREFIX } =
  codec;

const fuzzDir = new URL('../../fuzz/', import.meta.url);
const vectors = JSON.parse(readFileSync(new URL('../protocol/vectors/frames.json', fuzzDir), 'utf8'));

const STREAMS = { client: ClientFrame, server: ServerFrame, room: RoomFrame };
const DATAGRAMS = { client_datagram: ClientDatagram, server_datagram: ServerDatagram };
// The errors a decoder may throw: the framing codes of CodecError.
const DECODE_CODES = new Set(['BAD_FRAME', 'FRAME_TOO_LARGE', 'UNKNOWN_FRAME', 'INVALID_UTF8']);
// How long the whole corpus may take before the decoders count as hung: minutes of margin
// over the fraction of a second it takes.
const HANG_DEADLINE_MS = 120_000;

/** Every corpus input: {target, name, bytes}. */
function corpus() {
  const out = [];
  for (const dir of ['seeds', 'corpus']) {
    const base = new URL(`${dir}/`, fuzzDir);
    if (!existsSync(base)) continue;
    for (const target of readdirSync(base)) {
      for (const name of readdirSync(new URL(`${target}/`, base))) {
        out.push({ target, name, bytes: readFileSync(new URL(`${target}/${name}`, base)) });
      }
    }
  }
  return out;
}

/** Runs `fn`: {ok, value} or {ok: false, code}; anything but a CodecError is rethrown. */
function attempt(fn) {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof CodecError && DECODE_CODES.has(e.code)) return { ok: false, code: e.code };
    throw new Error(`not a decoding CodecError: ${e?.stack ?? e}`);
  }
}

/** The frames of `stream` through a FrameReader fed in chunks of `size`, up to the first error. */
function readStream(type, stream, size) {
  const reader = new FrameReader(type);
  const out = [];
  try {
    for (let at = 0; at < stream.length; at += size) {
      reader.push(stream.subarray(at, at + size));
      for (const frame of reader) out.push({ ok: true, value: frame });
    }
    reader.finish();
  } catch (e) {
    out.push(attempt(() => {
      throw e;
    }));
  }
  return out;
}

/** What every decoder makes of `bytes`; throws on a foreign exception or a broken round trip. */
function decodeEverywhere(bytes) {
  const results = {};
  const roundTrip = (type, encode, decode) => (r) => {
    if (!r.ok) return;
    const again = decode(type, encode(type, r.value));
    assert.deepEqual(again, r.value, `${type.typeName} round trip`);
  };
  for (const [channel, type] of Object.entries(STREAMS)) {
    const body = attempt(() => codec.decodeBody(type, bytes));
    roundTrip(type, codec.encodeFrame, (t, b) => codec.decodeBody(t, b.subarray(LEN_PREFIX)))(body);
    results[channel] = body;
    const whole = readStream(type, bytes, Math.max(bytes.length, 1));
    for (const size of [1, 7]) {
      assert.deepEqual(readStream(type, bytes, size), whole, `${channel} stream in chunks of ${size}`);
    }
    results[`${channel}_stream`] = whole;
  }
  for (const [channel, type] of Object.entries(DATAGRAMS)) {
    const datagram = attempt(() => codec.decodeDatagram(type, bytes));
    roundTrip(type, codec.encodeDatagram, codec.decodeDatagram)(datagram);
    results[channel] = datagram;
  }
  return results;
}

/** The worker: decodes every input, recording which one it is on in `progress`. */
function runCorpus({ inputs, progress }) {
  const current = new Int32Array(progress);
  const valid = new Map(vectors.valid.map((v) => [`${TARGET_OF[v.channel]}/${v.name}`, v]));
  const invalid = new Map(vectors.invalid.map((v) => [`frame_buffer/${v.channel}-${v.name}`, v]));
  const summary = { inputs: 0, decoded: 0, refused: 0, checkedMeaning: 0, failures: [] };
  inputs.forEach(({ target, name, bytes }, i) => {
    Atomics.store(current, 0, i);
    const where = `${target}/${name}`;
    try {
      const results = decodeEverywhere(bytes);
      for (const r of Object.values(results).flat()) r.ok ? summary.decoded++ : summary.refused++;
      if (target === 'frame_buffer' && bytes.length >= 2) {
        const kind = STREAM_KINDS[bytes[0] % 3];
        const frames = readStream(STREAMS[kind], bytes.subarray(2), 1 + bytes[1]);
        const known = invalid.get(where);
        if (known) {
          assert.deepEqual(frames.at(-1), { ok: false, code: known.error }, known.error);
          summary.checkedMeaning++;
        }
      }
      const known = valid.get(where);
      if (known) {
        const channel = known.channel;
        assert.deepEqual(results[channel], { ok: true, value: known.value }, "the vector's value");
        summary.checkedMeaning++;
      }
    } catch (e) {
      summary.failures.push(`${where}: ${e?.message ?? e}`);
    }
    summary.inputs++;
  });
  return summary;
}

if (!isMainThread) {
  parentPort.postMessage(runCorpus(workerData));
} else {
  describe('fuzz corpus', () => {
    const inputs = corpus();

    test('the seeds are the vectors (run node fuzz/seeds.mjs after they change)', () => {
      const seeds = new URL('seeds/', fuzzDir);
      for (const v of [...vectors.valid, ...vectors.invalid]) {
        const bytes = Buffer.from(v.hex, 'hex');
        const body = v.channel in STREAMS ? bytes.subarray(LEN_PREFIX) : bytes;
        if (body.length > 0) {
          const seed = readFileSync(new URL(`${TARGET_OF[v.channel]}/${v.name}`, seeds));
          assert.deepEqual(seed, body, `${TARGET_OF[v.channel]}/${v.name}`);
        }
      }
    });

    test('every input decodes to a value that round-trips or throws a CodecError, without hanging', async () => {
      const progress = new SharedArrayBuffer(4);
      const worker = new Worker(new URL(import.meta.url), { workerData: { inputs, progress } });
      let timer;
      const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => {
          const at = inputs[new Int32Array(progress)[0]];
          reject(new Error(`decoding hung on ${at.target}/${at.name} (${at.bytes.toString('hex')})`));
        }, HANG_DEADLINE_MS);
      });
      const done = new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      let summary;
      try {
        summary = await Promise.race([done, deadline]);
      } finally {
        clearTimeout(timer);
        await worker.terminate();
      }
      assert.deepEqual(summary.failures, []);
      assert.equal(summary.inputs, inputs.length);
      // The corpus holds both kinds, and every vector-made input was checked for its meaning.
      assert.ok(summary.decoded > 0 && summary.refused > 0, JSON.stringify(summary));
      const meanings = vectors.valid.length + vectors.invalid.filter((v) => v.channel in STREAMS).length;
      assert.ok(summary.checkedMeaning >= meanings, `${summary.checkedMeaning} of ${meanings} meanings checked`);
    });
  });
}
