// Inbound session sequence numbers (IPMI 2.0 §6.12.13): accept a number up to 15 ahead of the
// highest received so far, or up to 16 behind it if not received before; drop duplicates, 0, and
// anything further out. The same window OpenIPMI's BMC applies to the packets we send it.

const AHEAD = 15;
const BEHIND = 16;

export class SequenceWindow {
  private highest = 0;
  /** Bit i set: sequence number highest − 1 − i has been received. */
  private seen = 0;

  /** Whether a packet with this sequence number is new and in the window; if so, records it. */
  accept(sequence: number): boolean {
    const seq = sequence >>> 0;
    if (seq === 0) return false;
    if (this.highest === 0) {
      this.highest = seq;
      return true;
    }
    const ahead = (seq - this.highest) >>> 0;
    if (ahead === 0) return false;
    if (ahead <= AHEAD) {
      this.seen = ((this.seen << ahead) | (1 << (ahead - 1))) & 0xffff;
      this.highest = seq;
      return true;
    }
    const behind = (this.highest - seq) >>> 0;
    if (behind > BEHIND) return false;
    const bit = 1 << (behind - 1);
    if (this.seen & bit) return false;
    this.seen |= bit;
    return true;
  }
}
