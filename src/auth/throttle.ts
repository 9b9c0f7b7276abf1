// Brute-force back-off: failed credentials are counted per user and per source address; past a
// threshold each further failure locks that key for twice as long as the last, up to a ceiling.
// A locked caller is answered 401 like any other refusal, so a lockout reveals nothing.
export interface ThrottleOptions {
  /** Failures of one user name before it is locked. */
  userThreshold: number;
  /** Failures from one address (any user) before it is locked. */
  addressThreshold: number;
  baseLockoutMs: number;
  maxLockoutMs: number;
  /** A key with no failure for this long starts again from zero. */
  resetAfterMs: number;
}

interface Entry {
  failures: number;
  lockedUntil: number;
  last: number;
}

/** Bounded: an attacker spraying names or addresses cannot grow it without limit. */
const MAX_ENTRIES = 50_000;

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: ThrottleOptions,
    private readonly now: () => number = Date.now,
  ) {}

  private keys(who: { user?: string; address?: string }): [string, number][] {
    const keys: [string, number][] = [];
    if (who.user) keys.push([`user:${who.user.toLowerCase()}`, this.opts.userThreshold]);
    if (who.address) keys.push([`address:${who.address}`, this.opts.addressThreshold]);
    return keys;
  }

  private entry(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.last > this.opts.resetAfterMs && e.lockedUntil <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  locked(who: { user?: string; address?: string }): boolean {
    return this.keys(who).some(([key]) => (this.entry(key)?.lockedUntil ?? 0) > this.now());
  }

  /** Records a failure; returns a description of a lockout it starts, for the log. */
  failure(who: { user?: string; address?: string }): string | undefined {
    const now = this.now();
    const started: string[] = [];
    for (const [key, threshold] of this.keys(who)) {
      const e = this.entry(key) ?? { failures: 0, lockedUntil: 0, last: now };
      e.failures++;
      e.last = now;
      if (e.failures >= threshold) {
        const ms = Math.min(this.opts.maxLockoutMs, this.opts.baseLockoutMs * 2 ** Math.min(30, e.failures - threshold));
        e.lockedUntil = now + ms;
        started.push(`${key} locked for ${ms} ms after ${e.failures} failures`);
      }
      this.entries.delete(key); // re-insert: the map's order is least recently failed first
      this.entries.set(key, e);
      if (this.entries.size > MAX_ENTRIES) this.evict(now);
    }
    return started.length ? started.join(', ') : undefined;
  }

  /** The least recently failed entry that is not locked: spraying names cannot lift a lockout. */
  private evict(now: number): void {
    let scanned = 0;
    for (const [key, e] of this.entries) {
      if (e.lockedUntil <= now || ++scanned > 1000) {
        this.entries.delete(key);
        return;
      }
    }
  }

  success(who: { user?: string }): void {
    for (const [key] of this.keys(who)) this.entries.delete(key);
  }
}
