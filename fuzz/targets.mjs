// How the fuzz targets read their inputs, for the scripts that make or replay them
// (fuzz/seeds.mjs, web/test/fuzz-corpus.test.js).

/** The fuzz target each channel of protocol/vectors/frames.json seeds. */
export const TARGET_OF = Object.freeze({
  client: 'client_frame',
  server: 'server_frame',
  room: 'room_frame',
  client_datagram: 'client_datagram',
  server_datagram: 'server_datagram',
});

/**
 * The stream channels in the order of the frame_buffer target's first byte (modulo 3), as in
 * fuzz/src/lib.rs; its second byte sets the chunk sizes (1 to byte + 1).
 */
export const STREAM_KINDS = Object.freeze(['client', 'server', 'room']);
