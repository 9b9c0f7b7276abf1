// `winrmd subscription …`: the collector's subscriptions, written to the state file a running
// server reads on every enumeration (sources pick a change up at their next Refresh).
import { readFileSync } from 'node:fs';
import { readYaml, writeYaml } from '../config/yaml.js';
import type { CollectorStore } from '../store/collector.js';
import { parseSpec, simpleQuery, specOf, SubscriptionError, type OutputSpec, type Subscription, type SubscriptionSpec } from './subscription.js';

export const SUBSCRIPTION_USAGE = `  winrmd subscription add NAME (--query FILE | --channel C [--channel C …] [--level 1,2] [--event-id 4624,4625])
                                [--format Raw|RenderedText] [--heartbeat S] [--max-time S] [--max-items N]
                                [--max-envelope-size BYTES] [--read-existing] [--locale en-US] [--ignore-channel-error yes|no]
                                [--allow PATTERN …] [--deny PATTERN …] [--uri /wsman/PATH …]
                                [--output OUTPUT …] [--enable]
                                                   define a subscription; OUTPUT: json:PATH, raw:PATH (PATH may use
                                                   {subscription}, {source}, {date}), tcp://H:P, tcps://H:P,
                                                   syslog[+tcp|+tls]://H[:P], redis://[:PW@]H:P[#STREAM]
  winrmd subscription edit NAME [the same options] change one; every change is a new version
  winrmd subscription list|show NAME|enable NAME|disable NAME|remove NAME
  winrmd subscription export [NAME …]              YAML of the definitions, for import
  winrmd subscription import FILE                  add or replace the definitions a YAML file holds
  winrmd subscription status [NAME] [--silent N]   each source: last heartbeat, last events, counts;
                                                   flags sources silent for N heartbeat intervals (3)`;

/** The options `add` and `edit` read (node:util parseArgs values). */
export interface SubscriptionFlags {
  query?: string;
  channel?: string[];
  level?: string;
  'event-id'?: string;
  format?: string;
  heartbeat?: string;
  'max-time'?: string;
  'max-items'?: string;
  'max-envelope-size'?: string;
  'read-existing'?: boolean;
  locale?: string;
  'ignore-channel-error'?: string;
  allow?: string[];
  deny?: string[];
  uri?: string[];
  output?: string[];
  enable?: boolean;
  silent?: string;
}

const numbers = (s: string | undefined) => (s ? s.split(',').map((x) => Number(x.trim())) : []);

/**
 * An output in one word: `json:PATH` or `raw:PATH` (files), `tcp://HOST:PORT` or
 * `tcps://HOST:PORT` (JSON lines, TLS), `syslog://HOST[:PORT]` (UDP), `syslog+tcp://…`,
 * `syslog+tls://…`, `redis://[:PASSWORD@]HOST:PORT[#STREAM]`. YAML (`import`) says more (caFile, facility, maxLen).
 */
export function parseOutput(text: string): OutputSpec {
  const file = /^(json|raw):(?!\/\/)(.+)$/.exec(text);
  if (file) return { type: 'file', format: file[1] as 'json' | 'raw', path: file[2]! };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SubscriptionError(`--output ${text}: give json:PATH, raw:PATH, tcp://, tcps://, syslog://, syslog+tcp://, syslog+tls:// or redis://`);
  }
  const port = url.port ? Number(url.port) : undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  switch (url.protocol) {
    case 'tcp:':
    case 'tcps:':
      if (!port) throw new SubscriptionError(`--output ${text}: a port is needed`);
      return { type: 'tcp', host, port, tls: url.protocol === 'tcps:' };
    case 'syslog:':
    case 'syslog+udp:':
    case 'syslog+tcp:':
    case 'syslog+tls:':
      return { type: 'syslog', transport: url.protocol === 'syslog+tcp:' ? 'tcp' : url.protocol === 'syslog+tls:' ? 'tls' : 'udp', host, ...(port ? { port } : {}), facility: 16 };
    case 'redis:':
    case 'rediss:': {
      const stream = decodeURIComponent(url.hash.slice(1)) || 'winrmd:{subscription}';
      url.hash = '';
      return { type: 'redis', url: url.toString(), stream, maxLen: 0 };
    }
  }
  throw new SubscriptionError(`--output ${text}: unknown kind ${url.protocol}`);
}

/** A password in a URL is not shown. */
const masked = (spec: SubscriptionSpec) => ({ ...spec, outputs: spec.outputs.map((o) => (o.type === 'redis' ? { ...o, url: o.url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@') } : o)) });

/** What the flags change, over a base spec (empty for `add`). */
function applyFlags(base: Partial<SubscriptionSpec>, f: SubscriptionFlags): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...base };
  if (f.query && f.channel?.length) throw new SubscriptionError('give --query or --channel, not both');
  if (f.query) spec.query = readFileSync(f.query, 'utf8');
  else if (f.channel?.length) spec.query = simpleQuery(f.channel, numbers(f.level), numbers(f['event-id']));
  const num = (key: keyof SubscriptionSpec, flag: string | undefined) => {
    if (flag !== undefined) spec[key] = Number(flag);
  };
  if (f.format) spec.contentFormat = f.format;
  num('heartbeatIntervalS', f.heartbeat);
  num('maxTimeS', f['max-time']);
  num('maxItems', f['max-items']);
  num('maxEnvelopeSize', f['max-envelope-size']);
  if (f['read-existing']) spec.readExistingEvents = true;
  if (f.locale) spec.locale = f.locale;
  const ignore = f['ignore-channel-error'];
  if (ignore !== undefined) {
    if (ignore !== 'yes' && ignore !== 'no') throw new SubscriptionError('--ignore-channel-error takes yes or no');
    spec.ignoreChannelError = ignore === 'yes';
  }
  if (f.allow?.length || f.deny?.length) spec.sources = { allow: f.allow ?? base.sources?.allow ?? [], deny: f.deny ?? base.sources?.deny ?? [] };
  if (f.uri?.length) spec.uris = f.uri;
  if (f.output?.length) spec.outputs = f.output.map(parseOutput);
  return spec;
}

const summary = (s: Subscription) =>
  `${s.name}\t${s.enabled ? 'enabled' : 'disabled'}\tversion ${s.version}\t${s.outputs.length} output(s)${s.enabled && s.outputs.length === 0 ? ' (none: not offered to sources)' : ''}`;

function age(iso: string | undefined, now: number): string {
  if (!iso) return 'never';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

export async function subscriptionCommand(store: CollectorStore, args: string[], flags: SubscriptionFlags, out: (line: string) => void = console.log): Promise<number> {
  const [verb, ...names] = args;
  const name = names[0];
  const need = async (): Promise<Subscription> => {
    const s = name ? await store.find(name) : undefined;
    if (!s) throw new SubscriptionError(name ? `no subscription ${name}` : 'name a subscription');
    return s;
  };
  switch (verb) {
    case 'add': {
      if (!name) throw new SubscriptionError('name the subscription');
      if (await store.find(name)) throw new SubscriptionError(`a subscription ${name} exists; use edit`);
      const sub = await store.save(parseSpec(applyFlags({ name }, flags)), flags.enable ?? false);
      out(`subscription ${sub.name} added (${sub.enabled ? 'enabled' : 'disabled'}), id ${sub.id}, version ${sub.version}`);
      return 0;
    }
    case 'edit': {
      const current = await need();
      const sub = await store.save(parseSpec(applyFlags(specOf(current), flags)), flags.enable ? true : undefined);
      out(`subscription ${sub.name} changed, version ${sub.version}`);
      return 0;
    }
    case 'list':
      for (const s of await store.list()) out(summary(s));
      return 0;
    case 'show': {
      const s = await need();
      out(writeYaml({ id: s.id, version: s.version, enabled: s.enabled, updatedAt: s.updatedAt, ...masked(specOf(s)) }).trimEnd());
      return 0;
    }
    case 'enable':
    case 'disable': {
      const s = (await store.setEnabled((await need()).id, verb === 'enable'))!;
      out(`subscription ${s.name} ${verb}d, version ${s.version}${verb === 'enable' && s.outputs.length === 0 ? ' (it has no output: sources are not offered it until it has one)' : ''}`);
      return 0;
    }
    case 'remove':
      await need();
      await store.remove(name!);
      out(`subscription ${name} removed`);
      return 0;
    case 'export': {
      const subs = names.length ? await Promise.all(names.map(async (n) => (await store.find(n)) ?? Promise.reject(new SubscriptionError(`no subscription ${n}`)))) : await store.list();
      out(writeYaml({ subscriptions: subs.map((s) => ({ ...specOf(s), enabled: s.enabled })) }).trimEnd());
      return 0;
    }
    case 'import': {
      if (!name) throw new SubscriptionError('name the YAML file');
      const doc = readYaml(readFileSync(name, 'utf8'), name).value as { subscriptions?: unknown };
      if (!doc || !Array.isArray(doc.subscriptions)) throw new SubscriptionError(`${name} has no subscriptions list`);
      // All or none: every definition is checked before any is saved.
      const specs = doc.subscriptions.map((entry: unknown, i: number) => {
        const { enabled, ...spec } = (entry ?? {}) as Record<string, unknown>;
        try {
          return { spec: parseSpec(spec), enabled: enabled === true };
        } catch (err) {
          throw new SubscriptionError(`subscription ${i + 1} (${String(spec.name ?? 'unnamed')}): ${(err as Error).message}`);
        }
      });
      for (const { spec, enabled } of specs) out(`subscription ${(await store.save(spec, enabled)).name} imported`);
      return 0;
    }
    case 'status': {
      const subs = name ? [await need()] : await store.list();
      const silentAfter = Number(flags.silent ?? 3);
      const now = Date.now();
      for (const s of subs) {
        const sources = await store.sources(s.id);
        out(`${s.name} (${s.enabled ? 'enabled' : 'disabled'}): ${sources.length} source(s)`);
        for (const src of sources) {
          const silent = now - Date.parse(src.lastSeen) > silentAfter * s.heartbeatIntervalS * 1000;
          out(`  ${src.source}\t${src.address}\tlast heartbeat ${age(src.lastHeartbeat, now)}\tlast events ${age(src.lastEvents, now)}\t${src.eventsReceived} events\tbookmark ${src.bookmark ? `saved ${age(src.lastEvents, now)}` : 'none'}${src.version && src.version !== s.version ? '\tan older version' : ''}${src.recreatedAt ? `\tRE-CREATED its subscription ${age(src.recreatedAt, now)} (events may be missing)` : ''}${silent ? `\tSILENT (nothing for over ${silentAfter} heartbeat intervals)` : ''}`);
        }
      }
      return 0;
    }
  }
  throw new SubscriptionError(`unknown subcommand ${verb ?? '(none)'}\n${SUBSCRIPTION_USAGE}`);
}
