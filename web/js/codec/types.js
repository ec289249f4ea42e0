// The encoding of values: varints, strings, options, lists, structs and enums read from
// and written to bytes, the way the Rust protocol crate's serializer lays them out.

import { MAX_FRAME_LEN } from './constants.js';
import { CodecError, badValue, ended, within } from './errors.js';

// Varint discriminants: a first byte below 251 is the value itself; 251, 252, 253 announce a
// little-endian u16, u32, u64. A field accepts the forms up to its own width.
export const U16_BYTE = 251;
export const U32_BYTE = 252;
export const U64_BYTE = 253;
const TWO_32 = 2 ** 32;

// fatal: invalid UTF-8 is an error, never U+FFFD; ignoreBOM: a leading U+FEFF is text, kept.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Whether a string is valid Unicode (UTF-8 cannot carry a lone surrogate). */
export const isWellFormed = String.prototype.isWellFormed
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

/** Reads values from one frame body. */
export class Reader {
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
export class Writer {
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

export const u16 = uint(0xffff, U16_BYTE, 'an integer from 0 to 65535 (u16)');
export const u32 = uint(0xffffffff, U32_BYTE, 'an integer from 0 to 4294967295 (u32)');
export const u64 = uint(Number.MAX_SAFE_INTEGER, U64_BYTE, 'an integer from 0 to 2^53 - 1 (u64)');

export const bool = {
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

export const string = {
  enc(w, v) {
    if (typeof v !== 'string') throw badValue('a string', v);
    w.str(v);
  },
  dec: (r) => r.str(),
};

export function option(inner) {
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

export function list(item) {
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
export function struct(fields) {
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
export function enumeration(typeName, variants) {
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
