// Shedding load before latency explodes (issue 12, part B 12: 200 clients once drove Get's p99
// to 8 s). Two signals over each half second, both required: the event loop is late by more than
// `shedAtLagMs` at the median (the one signal that covers every kind of work; the median, not the
// mean, so one long pause such as a collection or a key generated at start is not overload), and
// the loop was busy running winrmd's own work nearly all that time (event-loop utilization, as
// fastify's under-pressure reads it). A loop that is late because other processes hold the CPU is
// idle by that measure: refusing requests would not help it, and a client should not see a 503 for
// it (a full parallel test run on two cores did exactly that). While both hold, requests on
// connections that have not authenticated yet are answered 503 with Retry-After at once, before
// any parsing or authentication (src/http/app.ts). Clients retry a 503 (pypsrp; RFC 9110 §15.6.4
// calls it temporary).
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

/** The share of the interval the loop spent running JavaScript and callbacks, not waiting. */
const BUSY = 0.9;

export interface Overload {
  /** True while the event loop is past its bound. */
  readonly now: boolean;
  stop(): void;
}

export function watchOverload(shedAtLagMs: number, intervalMs = 500): Overload {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let overloaded = false;
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const lagMs = histogram.count > 0 ? histogram.percentile(50) / 1e6 : 0;
    const busy = performance.eventLoopUtilization(last).utilization;
    last = performance.eventLoopUtilization();
    histogram.reset();
    overloaded = shedAtLagMs > 0 && lagMs > shedAtLagMs && busy > BUSY;
  }, intervalMs);
  timer.unref();
  return {
    get now() {
      return overloaded;
    },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
