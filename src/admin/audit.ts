// The audit trail (issue 16 item 4): who did what, append-only in the state file, each record
// chained to the one before by a SHA-256 hash over its fields and the previous hash, so that a
// record changed or deleted afterwards is found by `winrmd audit verify`. Records are grouped
// into one commit every few milliseconds (as the collector's deliveries are); the chain is
// computed inside that commit from the last stored record, so the server and the command line
// (which audits user and subscription changes) can both append.
// Retention prunes from the oldest and keeps the last pruned record's hash as the anchor the
// chain now starts from. Nothing secret is stored: credentials never reach a record, method
// parameters whose names say secret are redacted, and command lines only with
// shell.logCommandLines.
import { createHash } from 'node:crypto';
import type { Db } from '../store/db.js';

export interface AuditEntry {
  kind: string;
  user?: string;
  address?: string;
  data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Pick<AuditEntry, 'kind'>> {
  seq: number;
  at: string;
  user?: string;
  address?: string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** A remote shell as Remote Help reports a session: who, from where, when, for how long, what ran. */
export interface SessionReport {
  shellId: string;
  user?: string;
  from?: string;
  runAs?: string;
  started: string;
  ended?: string;
  seconds?: number;
  endedBy?: string;
  commands: { commandId: string; pid?: number; started: string; exitCode?: number | null; signal?: string; commandLine?: string }[];
}

export interface AuditFilter {
  since?: string;
  until?: string;
  user?: string;
  kind?: string;
  /** Any of these kinds. */
  kinds?: string[];
  limit?: number;
}

const GENESIS = '0'.repeat(64);

/** Parameter names whose values are not kept (a password given to a method, a key, a token). */
export const SECRET_NAME = /pass|secret|key|token|credential|pwd/i;

export function redact(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, SECRET_NAME.test(k) ? '(redacted)' : v]));
}

function hashOf(r: Omit<AuditRecord, 'hash' | 'data'> & { data: string }): string {
  return createHash('sha256').update([r.seq, r.at, r.kind, r.user ?? '', r.address ?? '', r.data, r.prev].join('\n')).digest('hex');
}

interface Row { seq: number; at: string; kind: string; user: string | null; address: string | null; data: string; prev: string; hash: string }

const toRecord = (r: Row): AuditRecord => ({
  seq: r.seq, at: r.at, kind: r.kind, ...(r.user !== null ? { user: r.user } : {}), ...(r.address !== null ? { address: r.address } : {}),
  data: JSON.parse(r.data) as Record<string, unknown>, prev: r.prev, hash: r.hash,
});

export class AuditLog {
  private pending: AuditEntry[] = [];
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly insert;
  private readonly last;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO audit (seq, at, kind, user, address, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.last = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
  }

  /** Kept, and on disk within a few milliseconds (or at flush()). */
  append(entry: AuditEntry): void {
    // Closed with the server, its database with it: an event that comes later (a process that
    // outlived its shell's unload) cannot be kept, and a commit timer firing then would throw
    // from a timer and end the process (a run under load did that in the test suite).
    if (this.closed) return;
    this.pending.push(entry);
    this.timer ??= setTimeout(() => this.flush(), 20);
  }

  /** Everything appended so far, in one commit. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.db.transaction(() => {
      let { seq, hash } = (this.last.get() as { seq: number; hash: string } | undefined) ?? this.anchor();
      for (const e of batch) {
        const rec = { seq: ++seq, at: new Date().toISOString(), kind: e.kind, user: e.user, address: e.address, data: JSON.stringify(e.data ?? {}), prev: hash };
        hash = hashOf(rec);
        this.insert.run(rec.seq, rec.at, rec.kind, rec.user ?? null, rec.address ?? null, rec.data, rec.prev, hash);
      }
    })();
  }

  list(f: AuditFilter = {}): AuditRecord[] {
    const terms: [string, unknown][] = [];
    if (f.since) terms.push(['at >= ?', f.since]);
    if (f.until) terms.push(['at <= ?', f.until]);
    if (f.user) terms.push(['lower(user) = lower(?)', f.user]);
    if (f.kind) terms.push(['kind = ?', f.kind]);
    if (f.kinds) terms.push([`kind IN (${f.kinds.map(() => '?').join(', ')})`, f.kinds]);
    const where = terms.map(([t]) => t);
    const args = terms.flatMap(([, a]) => a);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${f.limit ? `DESC LIMIT ${Math.floor(f.limit)}` : ''}`;
    const rows = (this.db.prepare(sql).all(...args) as Row[]).map(toRecord);
    return f.limit ? rows.reverse() : rows;
  }

  /** The shells the trail records, with their commands, oldest first. */
  sessions(f: Pick<AuditFilter, 'since' | 'user'> = {}): SessionReport[] {
    const shells = new Map<string, SessionReport>();
    const kinds = ['shell_created', 'command_started', 'command_exited', 'shell_closed'];
    for (const r of this.list({ since: f.since, kinds })) {
      const id = String(r.data.shellId);
      if (r.kind === 'shell_created') {
        shells.set(id, { shellId: id, user: r.user, from: r.address, runAs: r.data.runAs as string | undefined, started: r.at, commands: [] });
        continue;
      }
      const s = shells.get(id);
      if (!s) continue; // its creation is older than the filter (or pruned)
      if (r.kind === 'command_started') {
        s.commands.push({ commandId: String(r.data.commandId), pid: r.data.pid as number | undefined, started: r.at, ...(r.data.commandLine ? { commandLine: String(r.data.commandLine) } : {}) });
      } else if (r.kind === 'command_exited') {
        const c = s.commands.find((x) => x.commandId === String(r.data.commandId));
        if (c) Object.assign(c, { exitCode: r.data.exitCode as number | null, ...(r.data.signal ? { signal: String(r.data.signal) } : {}) });
      } else {
        Object.assign(s, { ended: r.at, endedBy: r.data.reason as string | undefined, seconds: (Date.parse(r.at) - Date.parse(s.started)) / 1000 });
      }
    }
    return [...shells.values()].filter((x) => !f.user || x.user?.toLowerCase() === f.user.toLowerCase());
  }

  /** Walks the chain from its anchor: a changed record breaks its own hash, a deleted one the sequence or the next record's link. */
  verify(): { ok: boolean; records: number; problems: string[] } {
    const problems: string[] = [];
    let { seq, hash } = this.anchor();
    let records = 0;
    for (const r of this.db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<Row>) {
      records++;
      if (r.seq !== seq + 1) problems.push(`record ${r.seq}: records ${seq + 1}${r.seq - 1 > seq + 1 ? `–${r.seq - 1}` : ''} are missing`);
      else if (r.prev !== hash) problems.push(`record ${r.seq}: does not follow record ${seq} (its link is broken)`);
      if (hashOf({ ...r, user: r.user ?? undefined, address: r.address ?? undefined }) !== r.hash) problems.push(`record ${r.seq}: changed since it was written`);
      ({ seq, hash } = r);
      if (problems.length >= 100) break;
    }
    return { ok: problems.length === 0, records, problems };
  }

  /** Removes records older than the retention, keeping the chain verifiable from the last one removed. */
  prune(retentionDays: number, now = Date.now()): number {
    if (retentionDays <= 0) return 0;
    const cutoff = new Date(now - retentionDays * 86_400_000).toISOString();
    return this.db.transaction(() => {
      const lastOld = this.db.prepare('SELECT seq, hash FROM audit WHERE at < ? ORDER BY seq DESC LIMIT 1').get(cutoff) as { seq: number; hash: string } | undefined;
      if (!lastOld) return 0;
      this.db.prepare('INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash').run(lastOld.seq, lastOld.hash);
      return this.db.prepare('DELETE FROM audit WHERE seq <= ?').run(lastOld.seq).changes;
    })();
  }

  close(): void {
    this.flush();
    this.closed = true;
  }

  private anchor(): { seq: number; hash: string } {
    return (this.db.prepare('SELECT seq, hash FROM audit_anchor WHERE id = 1').get() as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS };
  }
}
