// Writes the seed corpus of every fuzz target into fuzz/seeds/<target>/: the frames of the
// protocol test vectors (protocol/vectors/frames.json), so that fuzzing starts from valid
// frames, and a few bus frames. The seeds are committed; what libFuzzer grows from them goes
// to fuzz/corpus/ (ignored by git). Run after the vectors change:
//
//   node fuzz/seeds.mjs
//
// web/test/fuzz-corpus.test.js checks that the seeds still match the vectors.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

import { LEN_PREFIX } from '../web/js/codec.js';
import { Writer, bool, enumeration, string, struct, u64 } from '../web/js/codec/types.js';
import { STREAM_KINDS, TARGET_OF } from './targets.mjs';

const root = new URL('./seeds/', import.meta.url);
const vectors = JSON.parse(readFileSync(new URL('../protocol/vectors/frames.json', import.meta.url), 'utf8'));
const bytesOf = (hex) => Buffer.from(hex, 'hex');

const STREAM_KIND = Object.fromEntries(STREAM_KINDS.map((channel, i) => [channel, i]));

const seeds = new Map();
function seed(target, name, bytes) {
  if (!seeds.has(target)) seeds.set(target, new Map());
  seeds.get(target).set(name, Buffer.from(bytes));
}

const streams = { client: [], server: [], room: [] };
for (const v of [...vectors.valid, ...vectors.invalid, ...vectors.skipped]) {
  const bytes = bytesOf(v.hex);
  const target = TARGET_OF[v.channel];
  if (v.channel in STREAM_KIND) {
    if (bytes.length > LEN_PREFIX) seed(target, v.name, bytes.subarray(LEN_PREFIX));
    seed('frame_buffer', `${v.channel}-${v.name}`, [STREAM_KIND[v.channel], 0, ...bytes]);
    if (vectors.valid.includes(v)) streams[v.channel].push(bytes);
  } else {
    seed(target, v.name, bytes);
  }
}
// Every valid frame of a stream type back to back, read byte by byte, in chunks up to 8
// bytes, and in chunks up to 256 bytes.
for (const [channel, frames] of Object.entries(streams)) {
  for (const chunks of [0, 7, 255]) {
    seed('frame_buffer', `${channel}-all-chunks-${chunks}`, [STREAM_KIND[channel], chunks, ...Buffer.concat(frames)]);
  }
}

// The bus frame (relay/src/broker/redis/bus_frame.rs): a u8 version, origin, room, body.
const u8 = { enc: (w, v) => w.byte(v) };
const BusFrame = struct([
  ['version', u8],
  ['origin', string],
  ['room', string],
  [
    'body',
    enumeration('BusBody', [
      ['Message', struct([['seq', u64], ['epoch', u64], ['ts', u64], ['from', string], ['text', string]])],
      ['Presence', struct([['node', string], ['nick', string], ['joined', bool]])],
      ['Typing', struct([['nick', string]])],
      // Variant 3 (Entry) is assembled by a script in Redis; no seed encodes it here.
      ['Entry', struct([])],
      ['Renamed', struct([['from', string], ['to', string]])],
      ['Topic', struct([['topic', string], ['by', string]])],
      ['ReadMarker', struct([['user', string], ['seq', u64], ['node', string], ['session', u64]])],
    ]),
  ],
]);
const BUS = {
  'message': { Message: { seq: 1, epoch: 1_764_000_000_000, ts: 1_764_000_123_456, from: 'ada', text: 'hello' } },
  'message-unicode-big-seq': { Message: { seq: 70_000, epoch: 2 ** 53 - 1, ts: 0, from: 'Zoë', text: 'héllo\nwörld' } },
  'presence-join': { Presence: { node: 'relay-1', nick: 'ada', joined: true } },
  'presence-leave': { Presence: { node: 'relay-2', nick: 'bob', joined: false } },
  'typing': { Typing: { nick: 'ada' } },
  'renamed': { Renamed: { from: 'ada', to: 'Zoë' } },
  'topic': { Topic: { topic: 'Release planning', by: 'Zoë' } },
  'read-marker': { ReadMarker: { user: 'guest:ada', seq: 300, node: 'relay-2', session: 7 } },
};
for (const [name, body] of Object.entries(BUS)) {
  const w = new Writer();
  BusFrame.enc(w, { version: 1, origin: 'relay-1', room: 'lobby', body });
  seed('bus_frame', name, w.buf.subarray(0, w.pos));
}

rmSync(root, { recursive: true, force: true });
for (const [target, files] of seeds) {
  const dir = new URL(`${target}/`, root);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(new URL(name, dir), bytes);
}
console.log([...seeds].map(([t, f]) => `${t}: ${f.size}`).join(', '));
