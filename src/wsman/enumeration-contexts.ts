// Open enumerations (WS-Enumeration §3): each context belongs to the user who opened it, expires
// after EnumerationTimeoutms without a Pull (WinRM's idle semantics) and releases its provider
// iterator when it goes, so an abandoned enumeration holds nothing.
import { randomUUID } from 'node:crypto';
import { WsmanFault } from '../soap/faults.js';
import type { XmlNode } from '../soap/xml.js';

export interface OpenEnumeration<T> {
  id: string;
  owner: string;
  iterator: AsyncIterator<T>;
  /** A next() still running when the last Pull returned; the next Pull awaits it first. */
  pending?: Promise<IteratorResult<T>>;
  busy: boolean;
  timer?: NodeJS.Timeout;
  /** Idle time before it is dropped: EnumerationTimeoutms, or a pull subscription's heartbeat interval. */
  timeoutMs: number;
  /** Headers for a PullResponse that took `taken` items (a subscription's w:Bookmark). */
  replyHeaders?(taken: number): XmlNode[];
  /** A Pull returns what is ready rather than wait to fill MaxElements (a subscription's events). */
  eager?: boolean;
  /** Called once when the context goes, for whatever reason (a subscription ends with it). */
  onDrop?(): void;
  /** For `winrmd session list`: when it was opened, what it enumerates, from where. */
  created: number;
  resourceUri?: string;
  clientAddress?: string;
  /** When it is dropped unless pulled first (while a Pull holds it, when that Pull began to). */
  expiresAt: number;
  /** The session it is part of (a pull subscription's id): listed as that, not on its own. */
  partOf?: string;
}

/** What creating a context may say about it beyond its owner and iterator. */
export type ContextExtras<T> = Partial<Pick<OpenEnumeration<T>, 'replyHeaders' | 'onDrop' | 'eager' | 'timeoutMs' | 'resourceUri' | 'clientAddress' | 'partOf'>>;

export class EnumerationContexts<T> {
  private readonly open = new Map<string, OpenEnumeration<T>>();
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly timeoutMs: number,
    private readonly maxPerUser: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  create(owner: string, iterator: AsyncIterator<T>, extra: ContextExtras<T> = {}): OpenEnumeration<T> {
    const count = this.perUser.get(owner) ?? 0;
    if (count >= this.maxPerUser) {
      throw new WsmanFault('QuotaLimit', `The user ${owner} already has ${count} open enumerations (MaxEnumerationContextsPerUser = ${this.maxPerUser}).`);
    }
    const created = Date.now();
    const e: OpenEnumeration<T> = { id: `uuid:${randomUUID()}`, owner, iterator, busy: false, ...extra, timeoutMs: extra.timeoutMs ?? this.timeoutMs, created, expiresAt: created };
    this.open.set(e.id, e);
    this.perUser.set(owner, count + 1);
    this.touch(e);
    return e;
  }

  /** Take a context for a Pull: unknown, expired, busy or another user's → InvalidEnumerationContext. */
  acquire(id: string, owner: string): OpenEnumeration<T> {
    const e = this.open.get(id);
    // Another user's context is reported exactly like an unknown one: its existence is not disclosed.
    if (!e || e.owner !== owner) throw new WsmanFault('InvalidEnumerationContext');
    if (e.busy) throw new WsmanFault('InvalidEnumerationContext', 'Another Pull on this enumeration context is in progress.');
    e.busy = true;
    clearTimeout(e.timer);
    return e;
  }

  /** Hand a context back after a Pull; its idle timer starts again. */
  yield(e: OpenEnumeration<T>): void {
    e.busy = false;
    if (this.open.has(e.id)) this.touch(e);
  }

  release(id: string, owner: string): void {
    const e = this.open.get(id);
    if (!e || e.owner !== owner) throw new WsmanFault('InvalidEnumerationContext');
    this.drop(e);
  }

  drop(e: OpenEnumeration<T>): void {
    if (!this.open.delete(e.id)) return;
    clearTimeout(e.timer);
    const left = (this.perUser.get(e.owner) ?? 1) - 1;
    if (left > 0) this.perUser.set(e.owner, left);
    else this.perUser.delete(e.owner);
    // Let the provider free what the iteration holds; its failure changes nothing for the client.
    void Promise.resolve(e.iterator.return?.()).catch(() => undefined);
    e.onDrop?.();
  }

  /** The open contexts that are sessions of their own (not part of a subscription), for `winrmd session list`. */
  list(): OpenEnumeration<T>[] {
    return [...this.open.values()].filter((e) => e.partOf === undefined);
  }

  /**
   * Ends one of list()'s contexts whoever owns it (`winrmd session end`): as a Release would, so
   * a later Pull on it is wsen:InvalidEnumerationContext (WS-Enumeration §3.2 and §5; DSP0226 §8).
   * False when there is no such context, or it is part of a subscription (ended as that).
   */
  end(id: string): boolean {
    const e = this.open.get(id);
    if (!e || e.partOf !== undefined) return false;
    this.drop(e);
    return true;
  }

  closeAll(): void {
    for (const e of [...this.open.values()]) this.drop(e);
  }

  private touch(e: OpenEnumeration<T>): void {
    clearTimeout(e.timer);
    e.expiresAt = Date.now() + e.timeoutMs;
    e.timer = setTimeout(() => this.drop(e), Math.min(e.timeoutMs, 2 ** 31 - 1));
    e.timer.unref();
  }
}
