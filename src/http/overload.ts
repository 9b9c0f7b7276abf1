// Shedding load before latency explodes (issue 12, part B 12: 200 clients once drove Get's p99
// to 8 s). The event loop's delay is the one signal that covers every kind of work: when requests
// already admitted keep it late by more than `shedAtLagMs` at the median over the last interval,
// requests on connections that have not authenticated yet are answered 503 with Retry-After at
// once, before any parsing or authentication, until it recovers (src/http/app.ts). The median,
// not the mean: one long pause (a collection, a key generated at start) is not overload, and a
// client should not see a 503 for it. Clients retry a 503 (pypsrp; RFC 9110 §15.6.4 calls it
// temporary).
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface Overload {
  /** True while the event loop is past its bound. */
  readonly now: boolean;
  stop(): void;
}

export function watchOverload(shedAtLagMs: number, intervalMs = 500): Overload {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  /** The last interval's median event-loop delay, in milliseconds. */
  let lagMs = 0;
  const timer = setInterval(() => {
    lagMs = histogram.count > 0 ? histogram.percentile(50) / 1e6 : 0;
    histogram.reset();
  }, intervalMs);
  timer.unref();
  return {
    get now() {
      return shedAtLagMs > 0 && lagMs > shedAtLagMs;
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
