// The few pieces of DER (X.690 §8, §10) that SPNEGO's tokens need: tag-length-value elements with
// one-byte tags, definite lengths, OBJECT IDENTIFIERs. Every length comes from the network, so the
// reader checks each one against the bytes it has and throws DerError on anything else.

export class DerError extends Error {}

export interface Tlv {
  tag: number;
  value: Buffer;
  /** The whole element, tag and length included (what a mechListMIC covers, RFC 4178 §5). */
  raw: Buffer;
}

/** Tags SPNEGO uses (X.690 §8.1.2): universal types and [APPLICATION 0], [0]…[3] constructed. */
export const TAG = {
  enumerated: 0x0a,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  sequence: 0x30,
  application0: 0x60,
  context: (n: number) => 0xa0 + n,
} as const;

/** The element at `at`: DER's definite lengths only (X.690 §10.1), at most 4 length bytes. */
export function readTlv(buf: Buffer, at = 0): Tlv {
  if (at + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used by SPNEGO');
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4 || start + n > buf.length) throw new DerError('bad length');
    len = buf.readUIntBE(start, n);
    if (len < 0x80 || (n > 1 && buf[start] === 0)) throw new DerError('length not in its shortest form');
    start += n;
  }
  if (start + len > buf.length) throw new DerError('element runs past its container');
  return { tag, value: buf.subarray(start, start + len), raw: buf.subarray(at, start + len) };
}

/** One element that fills `buf` exactly, of the given tag when one is given. */
export function readOnly(buf: Buffer, tag?: number): Tlv {
  const tlv = readTlv(buf);
  if (tag !== undefined && tlv.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  if (tlv.raw.length !== buf.length) throw new DerError('trailing bytes after an element');
  return tlv;
}

/** The elements of a constructed value, in order. */
export function children(value: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < value.length; at += out[out.length - 1]!.raw.length) out.push(readTlv(value, at));
  return out;
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const value = Buffer.concat(content);
  const n = value.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, value]);
}

/** OBJECT IDENTIFIER contents (X.690 §8.19): the first two arcs in one byte, then base-128 arcs. */
export function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)].forEach((arc) => {
    const group = [arc & 0x7f];
    for (arc = Math.floor(arc / 128); arc > 0; arc = Math.floor(arc / 128)) group.unshift((arc & 0x7f) | 0x80);
    bytes.push(...group);
  });
  return Buffer.from(bytes);
}

export function decodeOid(value: Buffer): string {
  if (value.length === 0 || value[value.length - 1]! & 0x80) throw new DerError('bad OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let arc = 0;
  for (const b of value) {
    if (arc === 0 && b === 0x80) throw new DerError('OBJECT IDENTIFIER arc not in its shortest form');
    arc = arc * 128 + (b & 0x7f);
    if (arc > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
    if (!(b & 0x80)) {
      arcs.push(arc);
      arc = 0;
    }
  }
  const first = arcs.shift()!;
  const top = Math.min(Math.floor(first / 40), 2);
  return [top, first - top * 40, ...arcs].join('.');
}
