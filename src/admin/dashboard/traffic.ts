// The last hour of traffic, minute by minute, for the dashboard's charts: requests the core
// answered, the faults among them, and refused credentials. Kept here (60 slots of three
// counters) rather than read from the metrics, which may be off.

const MINUTES = 60;

export interface TrafficSeries {
  requests: number[];
  faults: number[];
  authFailures: number[];
}

export class Traffic {
  private readonly slots = Array.from({ length: MINUTES }, () => ({ minute: -1, requests: 0, faults: 0, authFailures: 0 }));

  constructor(private readonly now: () => number = Date.now) {}

  private slot() {
    const minute = Math.floor(this.now() / 60_000);
    const s = this.slots[minute % MINUTES]!;
    if (s.minute !== minute) Object.assign(s, { minute, requests: 0, faults: 0, authFailures: 0 });
    return s;
  }

  request(faulted: boolean): void {
    const s = this.slot();
    s.requests++;
    if (faulted) s.faults++;
  }

  authFailure(): void {
    this.slot().authFailures++;
  }

  /** The last hour, oldest minute first, the current minute last. */
  series(): TrafficSeries {
    const current = Math.floor(this.now() / 60_000);
    const out: TrafficSeries = { requests: [], faults: [], authFailures: [] };
    for (let m = current - MINUTES + 1; m <= current; m++) {
      const s = this.slots[((m % MINUTES) + MINUTES) % MINUTES]!;
      const live = s.minute === m;
      out.requests.push(live ? s.requests : 0);
      out.faults.push(live ? s.faults : 0);
      out.authFailures.push(live ? s.authFailures : 0);
    }
    return out;
  }
}
