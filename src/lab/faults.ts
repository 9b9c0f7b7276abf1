// Fault injection (issue 17 item 4), per host or for all, by probability or schedule, with a seed
// so a run can be repeated: each host draws from its own generator, seeded from the lab's seed and
// its name, so its n-th request meets the same fate in every run. Two places act:
// - the transport, before a request is read (so for every request of the host): `reset` (the
//   connection is cut), `http` (a bare status), `auth` (401 whatever the credential), `hang` (no
//   reply ever: the connection stays open until the client gives up), and `winrmd lab ctl`'s
//   `slow`;
// - the pipeline's authorize hook, where the action is known (so `actions` may narrow them):
//   `latency`, `fault` (any fault of the catalogue, as winrmd itself would answer it) and
//   `receive-timeout` (a shell Receive answered TimedOut at its OperationTimeout, as a command
//   that never writes is).
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { globPattern } from '../config/patterns.js';
import { WsmanFault, type FaultId } from '../soap/faults.js';
import type { Exchange } from '../wsman/exchange.js';
import { TRANSPORT_KINDS, type FaultSpec } from './file.js';

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A host's faults: those of the lab file that name it, and what `winrmd lab ctl` set at run time. */
export class HostFaults {
  /** One generator per stage (before the request is read, and in the pipeline), so their draws never interleave. */
  private readonly random: { transport: () => number; pipeline: () => number };
  /** `winrmd lab ctl slow`: added to every request. */
  slowMs = 0;

  constructor(
    readonly host: string,
    private readonly specs: FaultSpec[],
    seed: number,
    /** Ends what hangs when the lab stops. */
    private readonly stopping: AbortSignal,
    /** When the lab started: every host's schedule counts from it. */
    private readonly startedAt: number,
  ) {
    const seedOf = (stage: string) => createHash('sha256').update(`${seed}\0${host.toLowerCase()}\0${stage}`).digest().readUInt32BE(0);
    this.random = { transport: seeded(seedOf('transport')), pipeline: seeded(seedOf('pipeline')) };
  }

  static applying(specs: FaultSpec[], host: string): FaultSpec[] {
    return specs.filter((f) => !f.hosts || f.hosts.some((h) => globPattern(h).test(host)));
  }

  /**
   * The faults that strike now, among those of this stage. Every fault of the stage draws once per
   * request, whatever the clock or the action, so the n-th request of a stage meets the same draws
   * in every run with the seed; the schedule and the actions then decide which draws count.
   */
  private striking(stage: 'transport' | 'pipeline', kinds: (k: FaultSpec['kind']) => boolean, action?: string): FaultSpec[] {
    const s = (Date.now() - this.startedAt) / 1000;
    const random = this.random[stage];
    return this.specs.filter((f) => kinds(f.kind)).map((f) => ({ f, draw: random() })).filter(({ f, draw }) => draw < f.probability
      && (f.fromSeconds === undefined || s >= f.fromSeconds) && (f.untilSeconds === undefined || s < f.untilSeconds)
      && (!f.actions || (action !== undefined && f.actions.some((a) => a.toLowerCase() === action.toLowerCase())))).map(({ f }) => f);
  }

  /** At the transport: true when the request was answered (or will never be) by a fault. */
  async transport(req: IncomingMessage, res: ServerResponse, challenges: () => string[]): Promise<boolean> {
    if (this.slowMs > 0) await sleep(this.slowMs, this.stopping);
    for (const f of this.striking('transport', (k) => TRANSPORT_KINDS.has(k) && k !== 'expired-certificate')) {
      switch (f.kind) {
        case 'reset':
          // A TCP reset where the socket is plain TCP; a TLS socket (an https host) cannot send one alone.
          try {
            req.socket.resetAndDestroy();
          } catch {
            req.socket.destroy();
          }
          return true;
        case 'http':
          res.writeHead(f.status!, { 'Content-Length': '0', ...(f.status === 503 ? { 'Retry-After': '1' } : {}) }).end();
          return true;
        case 'auth':
          req.resume();
          res.writeHead(401, { 'WWW-Authenticate': challenges(), 'Content-Length': '0', Connection: 'close' }).end();
          return true;
        case 'hang': {
          // Read and never answer: the client's own timeout is what ends it (or the lab's stop).
          req.resume();
          const end = () => req.socket.destroy();
          this.stopping.addEventListener('abort', end, { once: true });
          req.socket.once('close', () => this.stopping.removeEventListener('abort', end));
          return true;
        }
      }
    }
    return false;
  }

  /** The authorize hook: latency, a fault of the catalogue, a Receive that times out. */
  readonly hook = async (ex: Exchange): Promise<void> => {
    const action = ex.request?.action;
    const name = action?.slice(action.lastIndexOf('/') + 1);
    const applies = (k: FaultSpec['kind']) => !TRANSPORT_KINDS.has(k) && (k !== 'receive-timeout' || name === 'Receive');
    for (const f of this.striking('pipeline', applies, name)) {
      if (f.kind === 'latency') await sleep(f.ms!, ex.work.signal);
      else if (f.kind === 'fault') throw new WsmanFault(f.fault as FaultId, `Injected by the lab: ${f.fault}.`);
      else {
        await sleep(Math.max(0, (ex.request?.operationTimeoutMs ?? 60_000) - 500), ex.work.signal);
        throw new WsmanFault('TimedOut', 'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.');
      }
    }
  };
}

/** Waits `ms`, or less when `signal` aborts (the client gone, the lab stopping). */
const sleep = (ms: number, signal: AbortSignal): Promise<unknown> => delay(ms, undefined, { signal }).catch(() => undefined);
