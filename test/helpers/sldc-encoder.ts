// A test-only SLDC encoder (ECMA-321), to make vectors for src/eventing/sldc.ts and the bodies of
// simulated forwarders: greedy matching (hash chains over the last 1024 bytes, the decoder's
// history), with options to exercise scheme 2 (raw bytes with the 0xFF escape) and a history reset.

class BitWriter {
  private readonly bytes: number[] = [];
  private cur = 0;
  private n = 0;

  write(value: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) {
      this.cur = (this.cur << 1) | ((value >> i) & 1);
      if (++this.n === 8) {
        this.bytes.push(this.cur);
        this.cur = 0;
        this.n = 0;
      }
    }
  }

  /** Zero bits to the next byte boundary. */
  finish(): number[] {
    if (this.n > 0) this.write(0, 8 - this.n);
    return this.bytes;
  }
}

const control = (w: BitWriter, symbol: number) => {
  w.write(0x1ff, 9);
  w.write(symbol, 4);
};

export interface EncodeOptions {
  /** Bytes [from, to) are written raw, in scheme 2. */
  raw?: { from: number; to: number };
  /** A Reset-1 (empty history) before this byte. */
  resetAt?: number;
  /** Matches no longer than this (2 to 271). */
  maxMatch?: number;
}

export function sldcEncode(data: Uint8Array, o: EncodeOptions = {}): Buffer {
  const w = new BitWriter();
  const maxMatch = Math.min(o.maxMatch ?? 271, 271);
  // Candidates by their first two bytes, most recent last (stream positions since the last reset).
  // The history holds the stream's bytes in order, so a match against a position at most 1024
  // back can be checked on the input itself, overlap included.
  let chains = new Map<number, number[]>();
  let base = 0; // the stream position of the last reset: history position = (position - base) % 1024
  const remember = (at: number) => {
    if (at + 1 >= data.length) return;
    const key = (data[at]! << 8) | data[at + 1]!;
    const list = chains.get(key);
    if (list) {
      list.push(at);
      if (list.length > 32) list.shift();
    } else chains.set(key, [at]);
  };
  control(w, 0b0101); // Reset-1
  let scheme = 1;
  for (let i = 0; i < data.length;) {
    if (i === o.resetAt) {
      control(w, 0b0101);
      chains = new Map();
      base = i;
      scheme = 1;
    }
    const raw = o.raw && i >= o.raw.from && i < o.raw.to;
    if (raw) {
      if (scheme !== 2) control(w, 0b0010);
      scheme = 2;
      w.write(data[i]!, 8);
      if (data[i] === 0xff) w.write(0, 1);
      remember(i);
      i++;
      continue;
    }
    if (scheme !== 1) control(w, 0b0001);
    scheme = 1;
    let best = 0;
    let bestFrom = 0;
    const limit = Math.min(maxMatch, data.length - i, o.resetAt !== undefined && o.resetAt > i ? o.resetAt - i : Infinity, o.raw && o.raw.from > i ? o.raw.from - i : Infinity);
    const candidates = i + 1 < data.length ? chains.get((data[i]! << 8) | data[i + 1]!) ?? [] : [];
    for (let c = candidates.length - 1; c >= 0 && limit >= 2; c--) {
      const j = candidates[c]!;
      if (j < base || i - j > 1024) break;
      let k = 0;
      while (k < limit && data[j + k] === data[i + k]) k++;
      if (k > best) {
        best = k;
        bestFrom = (j - base) % 1024;
      }
    }
    if (best >= 2) {
      w.write(1, 1);
      if (best <= 3) w.write(best - 2, 2);
      else if (best <= 7) w.write(0b1000 | (best - 4), 4);
      else if (best <= 15) w.write(0b110000 | (best - 8), 6);
      else if (best <= 31) w.write(0b11100000 | (best - 16), 8);
      else {
        w.write(0b1111, 4);
        w.write(best - 32, 8);
      }
      w.write(bestFrom, 10);
      for (let k = 0; k < best; k++) remember(i + k);
      i += best;
    } else {
      w.write(0, 1);
      w.write(data[i]!, 8);
      remember(i);
      i++;
    }
  }
  control(w, 0b0100); // End of Record
  const bytes = w.finish();
  bytes.push(0); // as Windows writes it: a zero byte before the length
  const length = Buffer.alloc(4);
  length.writeUInt32LE(data.length);
  return Buffer.concat([Buffer.from(bytes), length]);
}
