// SLDC (Streaming Lossless Data Compression, ECMA-321), the only compression a Windows event
// forwarder uses (MS-WSMV 3.1.4.1.30.1 option Compression=SLDC, 2.2.9.2): the UTF-16 envelope is
// compressed, then four bytes follow with its uncompressed length, little-endian. Decoding only:
// replies are never compressed. No npm package implements it.

/** A body that is not a valid SLDC stream, or would decode past the cap. */
export class SldcError extends Error {}

const HISTORY = 1024;
/** Nine 1-bits open a control symbol (ECMA-321 §7.2); four more bits say which. */
const CONTROL_PREFIX = 0x1ff;
const enum Control {
  Flush = 0b0000,
  Scheme1 = 0b0001,
  Scheme2 = 0b0010,
  FileMark = 0b0011,
  EndOfRecord = 0b0100,
  Reset1 = 0b0101,
  Reset2 = 0b0110,
  EndMarker = 0b1111,
}

class Bits {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array, private readonly end: number) {}

  get left(): number {
    return this.end * 8 - this.pos;
  }

  /** The next n bits (n ≤ 16) as an unsigned number, most significant first; past the end is an error. */
  peek(n: number): number {
    if (n > this.left) throw new SldcError('the SLDC stream ends inside a symbol');
    // Four bytes from the current one hold any 16 bits at any bit offset (bytes past the end read as 0).
    const b = this.bytes;
    const i = this.pos >> 3;
    const word = (((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0)) >>> 0;
    return ((word << (this.pos & 7)) >>> 0) >>> (32 - n);
  }

  read(n: number): number {
    const v = this.peek(n);
    this.pos += n;
    return v;
  }
}

/**
 * Decode an SLDC body: the stream up to its End of Record, checked against the trailing length.
 * `maxBytes` bounds the output (a copy pointer emits up to 271 bytes from 2 bytes of input).
 */
export function sldcDecode(body: Uint8Array, maxBytes: number): Buffer {
  if (body.length < 4) throw new SldcError('an SLDC body ends with its 4-byte length');
  const declared = Buffer.from(body.buffer, body.byteOffset, body.length).readUInt32LE(body.length - 4);
  if (declared > maxBytes) throw new SldcError(`the SLDC body declares ${declared} bytes, more than the ${maxBytes} allowed`);
  const bits = new Bits(body, body.length - 4);
  const out = Buffer.allocUnsafe(declared);
  const history = new Uint8Array(HISTORY);
  let written = 0;
  let at = 0; // the history's write position
  let scheme: 1 | 2 | 0 = 0;
  const overflow = () => new SldcError(`the SLDC stream decodes to more than the ${declared} bytes it declares`);
  while (bits.left > 0) {
    if (bits.left >= 13 && bits.peek(9) === CONTROL_PREFIX) {
      bits.read(9);
      const symbol = bits.read(4);
      switch (symbol) {
        case Control.Reset1:
        case Control.Reset2:
          history.fill(0);
          at = 0;
          scheme = symbol === Control.Reset1 ? 1 : 2;
          break;
        case Control.Scheme1:
          scheme = 1;
          break;
        case Control.Scheme2:
          scheme = 2;
          break;
        case Control.EndOfRecord:
          if (written !== declared) throw new SldcError(`the SLDC stream decodes to ${written} bytes, not the ${declared} it declares`);
          return out;
        case Control.Flush:
        case Control.FileMark:
        case Control.EndMarker:
          break;
        default:
          throw new SldcError(`reserved SLDC control symbol ${symbol.toString(2).padStart(4, '0')}`);
      }
    } else if (scheme === 1) {
      // A literal: 0 and 8 bits, read as one 9-bit symbol (the hot path of text).
      const head = bits.peek(9);
      if (head < 0x100) {
        bits.read(9);
        if (written >= declared) throw overflow();
        out[written++] = head;
        history[at] = head;
        at = (at + 1) & (HISTORY - 1);
        continue;
      }
      bits.read(1);
      // A copy pointer: a match count field, then a 10-bit absolute position in the history.
      let count: number;
      if (bits.peek(1) === 0) count = 2 + bits.read(2); // 00 → 2, 01 → 3
      else if (bits.peek(2) === 0b10) count = 4 + (bits.read(4) & 0b11);
      else if (bits.peek(3) === 0b110) count = 8 + (bits.read(6) & 0b111);
      else if (bits.peek(4) === 0b1110) count = 16 + (bits.read(8) & 0b1111);
      // 1111 then 8 bits: 32–271 (8 bits starting 1111 would make nine 1s, a control symbol, read above).
      else count = 32 + (bits.read(12) & 0xff);
      const from = bits.read(10);
      if (written + count > declared) throw overflow();
      for (let i = 0; i < count; i++) {
        const byte = history[(from + i) & (HISTORY - 1)]!;
        out[written++] = byte;
        history[at] = byte;
        at = (at + 1) & (HISTORY - 1);
      }
    } else if (scheme === 2) {
      const byte = bits.read(8);
      // 0xFF is followed by one 0 bit, so that no byte run reads as a control symbol.
      if (byte === 0xff && bits.read(1) !== 0) throw new SldcError('an 0xFF byte in SLDC scheme 2 must be followed by a 0 bit');
      if (written >= declared) throw overflow();
      out[written++] = byte;
      history[at] = byte;
      at = (at + 1) & (HISTORY - 1);
    } else {
      // Padding after the last symbol of a flushed stream is zeros; anything else before a reset is not SLDC.
      if (bits.read(1) !== 0) throw new SldcError('SLDC data before a Reset control symbol');
    }
  }
  throw new SldcError('the SLDC stream has no End of Record');
}

/**
 * The envelope bytes of a body labelled `Content-Encoding: SLDC`. Windows labels some bodies that
 * are not compressed (an End starts FF FE, the UTF-16LE byte-order mark, which SLDC would read as
 * an End Marker): those are taken as they are, as are bodies that start with `<`.
 */
export function decodeSldcBody(body: Buffer, maxBytes: number): Buffer {
  if (body.length === 0 || (body[0] === 0xff && body[1] === 0xfe) || (body[0] === 0xfe && body[1] === 0xff) || body[0] === 0x3c) return body;
  return sldcDecode(body, maxBytes);
}
