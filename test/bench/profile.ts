// Reading a V8 .cpuprofile (node --cpu-prof): self time per function and per module.
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface SelfTime { name: string; where: string; ms: number; pct: number }

export interface ProfileSummary {
  totalMs: number;
  /** Time not spent idle: what the process actually used. */
  busyMs: number;
  functions: SelfTime[];
  modules: SelfTime[];
}

/** A short location: repo-relative for our code, package name for dependencies, node: for core. */
function shortUrl(url: string): string {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

/** The module a location belongs to: a package, a node: builtin, or one of our files. */
function moduleOf(url: string): string {
  const s = shortUrl(url);
  if (!s) return '(native / V8)';
  if (s.startsWith('node:')) return s.split('/').slice(0, 2).join('/');
  if (url.includes('/node_modules/')) {
    const parts = s.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return s;
}

export function summarize(file: string, top = 10): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // Samples taken while the inspector itself works (stopping and serializing the profile) are
  // the measurement's own cost, not the server's: they are left out.
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const probe = new Map<number, boolean>();
  const isProbe = (id: number): boolean => {
    let v = probe.get(id);
    if (v === undefined) {
      const p = parent.get(id);
      v = byId.get(id)!.callFrame.url === 'node:inspector' || (p !== undefined && isProbe(p));
      probe.set(id, v);
    }
    return v;
  };
  const self = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    if (isProbe(prof.samples[i]!)) continue;
    const dt = prof.timeDeltas[i] ?? 0;
    totalUs += dt;
    self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + dt);
  }
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const mods = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const name = cf.functionName || (cf.url ? '(anonymous)' : '(root)');
    if (name === '(idle)') idleUs += us;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${name}|${where}`;
    const f = fns.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const mod = cf.url ? moduleOf(cf.url) : name.startsWith('(') ? name : '(native / V8)';
    mods.set(mod, (mods.get(mod) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...fns.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, pct: pct(f.us) })),
    modules: [...mods]
      .filter(([m]) => m !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([m, us]) => ({ name: m, where: '', ms: us / 1000, pct: pct(us) })),
  };
}
