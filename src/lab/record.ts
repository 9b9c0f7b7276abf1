// Record and replay (issue 17 item 5): `winrmd record` stands between WinRM clients and a real
// endpoint. Clients authenticate to it as they would to the host (Basic or NTLM with message
// encryption, the recorder's own acceptors); it forwards each envelope as it came, with its own
// credentials towards the target (a client certificate, NTLM or Basic over HTTPS: the outbound
// client of src/eventing/client.ts), answers with the target's reply as the target wrote it, and
// turns what it saw into a lab profile: Identify's product, the CIM instances of Get, Enumerate
// and Pull (typed by winrmd's class declarations, one per key; a class winrmd does not declare is
// declared in the profile as the replies showed it), and each shell command with its
// stdin, output and exit code as a rule that matches exactly that command line. No credential is
// recorded (the transport's headers never reach the recording), properties whose names say
// secret are not kept, and `--redact` patterns are cut from everything recorded. The profile is
// written with `templates: false`: its text is the host's, as it was.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createOsProvider } from '../../providers/os/index.js';
import { redact, SECRET_NAME } from '../admin/audit.js';
import { AuthService, type Authenticator } from '../auth/authenticator.js';
import { BasicAuthenticator } from '../auth/basic.js';
import { NegotiateAuthenticator } from '../auth/negotiate.js';
import { NtlmMechanism } from '../auth/ntlm/mechanism.js';
import { credentialsFor } from '../auth/passwords.js';
import { FailureThrottle } from '../auth/throttle.js';
import { escapeRegExp } from '../config/patterns.js';
import { configSchema } from '../config/schema.js';
import { writeYaml } from '../config/yaml.js';
import { wsmanClient, type Credentials } from '../eventing/client.js';
import { createApp } from '../http/app.js';
import { child, children, textOf, type CimClass, type XmlNode } from '../provider-api.js';
import { ACTION, NS, RESOURCE, SHELL } from '../soap/names.js';
import { parseXml } from '../soap/xml.js';
import { MemoryUserStore } from '../store/users.js';
import type { Reply } from '../wsman/exchange.js';

export interface RecorderOptions {
  /** The real endpoint: https://host:5986/wsman. */
  target: string;
  /** How the recorder authenticates to it. */
  credentials: Credentials;
  listen: { host: string; port: number };
  /** The account clients use towards the recorder (Basic or NTLM). */
  user: { name: string; password: string };
  /** Regular expressions whose matches are replaced by `(redacted)` in everything recorded. */
  redact?: RegExp[];
  log: Logger;
}

export interface Recorder {
  port: number;
  /** The recording so far, as a lab file (YAML), with a fresh password for its one user. */
  labFile(): string;
  close(): Promise<void>;
}

/** A class winrmd does not declare, as the recording saw it (startRecorder's `foreign`). */
interface Foreign {
  /** As the target wrote its instances (until one came, as a client asked for it). */
  name: string;
  /** By lower-case name: the property as first written, and its type. */
  properties: Map<string, { name: string; type: string }>;
  selectors: Set<string>;
  /** Each distinct row once, by its JSON. */
  rows: Map<string, Record<string, unknown>>;
}

interface CommandRecord { shellId: string; line: string; stdin: Buffer[]; stdout: Buffer[]; stderr: Buffer[]; bytes: number; truncated: boolean; exitCode?: number }

/** What one command may keep of each of its streams, and what a whole recording may hold. */
const COMMAND_BYTES = 1024 * 1024;
const RECORDING_BYTES = 64 * 1024 * 1024;

/** JSON values whose keys say secret (Ansible's module arguments on stdin: become_password, …), cut from recorded text. */
const SECRET_JSON = /("[^"]*(?:pass|secret|key|token|credential|pwd)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** Loopback only: clients give the recorder the target's password, in clear with Basic over HTTP. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const PARSE = { maxDepth: 128, maxAttributes: 256 };
const local = (n: XmlNode) => n.name;
const elementsOf = (n: XmlNode | undefined) => n?.children ?? [];

export async function startRecorder(o: RecorderOptions): Promise<Recorder> {
  if (!isLoopback(o.listen.host)) throw new Error(`the recorder listens on a loopback address only (not ${o.listen.host || 'every address'}): its clients send the target's password to it`);
  const classes = new Map((createOsProvider().classes ?? []).map((c): [string, CimClass] => [c.name.toLowerCase(), c]));
  const users = new MemoryUserStore();
  users.put({ name: o.user.name, ...(await credentialsFor(o.user.password)), runAs: 'recorder', roles: ['administrator'] });
  const authenticators: Authenticator[] = [
    new NegotiateAuthenticator({ mechanisms: [new NtlmMechanism({ users, channelBinding: 'relaxed', netbiosName: 'RECORDER', dnsName: 'recorder' })], users, allowUnencrypted: false }),
    new BasicAuthenticator({ users, allowUnencrypted: true }),
  ];
  const client = wsmanClient(o.credentials);
  const scrub = (s: string) => (o.redact ?? []).reduce((t, re) => t.replace(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`), '(redacted)'), s.replace(SECRET_JSON, '$1"(redacted)"'));
  let recordedBytes = 0;

  const identity: { productVersion?: string; productVendor?: string } = {};
  const instances = new Map<string, Map<string, Record<string, unknown>>>();
  /**
   * The classes of root/cimv2 winrmd does not declare, as the target showed them, by lower-case
   * name (CIM names are case-insensitive): each property's type (datetime where it wrote a
   * cim:Datetime, else string, so that text replays as it was written; `[]` where an element
   * repeated) in the order first seen, the selector names of requests it answered (their keys),
   * and their rows, each kept once, whole until the keys are known.
   */
  const foreign = new Map<string, Foreign>();
  const foreignOf = (name: string, fromInstance: boolean) => {
    let f = foreign.get(name.toLowerCase());
    if (!f) foreign.set(name.toLowerCase(), (f = { name, properties: new Map(), selectors: new Set(), rows: new Map() }));
    else if (fromInstance && f.rows.size === 0) f.name = name; // the target's own spelling, not a client's
    return f;
  };
  const CIMV2 = `${RESOURCE.wmi}/root/cimv2/`.toLowerCase();
  const cimv2Class = (uri: string | undefined) => (uri?.toLowerCase().startsWith(CIMV2) ? uri.slice(CIMV2.length) : undefined);
  /** Selector names used for a class winrmd does not declare (an answered request's header, or an EPR's reference parameters). */
  const noteSelectors = (holder: XmlNode | undefined) => {
    const name = cimv2Class(textOf(child(holder, NS.wsman, 'ResourceURI')));
    if (!name || name === '*' || classes.has(name.toLowerCase())) return;
    for (const sel of children(child(holder, NS.wsman, 'SelectorSet'), NS.wsman, 'Selector')) if (sel.attrs.Name) foreignOf(name, false).selectors.add(sel.attrs.Name);
  };
  const commands = new Map<string, CommandRecord>();
  const rules = new Map<string, CommandRecord>();
  let hostName: string | undefined;

  /** An instance of a class winrmd does not declare: its properties as strings (or datetimes), its row kept whole. */
  const keepForeign = (n: XmlNode) => {
    const f = foreignOf(local(n), true);
    const row: Record<string, unknown> = {};
    for (const p of elementsOf(n)) {
      const known = f.properties.get(p.name.toLowerCase());
      const name = known?.name ?? p.name;
      if (Object.hasOwn(row, name) || SECRET_NAME.test(name)) continue; // a secret-named property is not kept at all
      const values = elementsOf(n).filter((q) => q.name.toLowerCase() === p.name.toLowerCase());
      const inner = elementsOf(p)[0];
      const datetime = inner?.ns === NS.cim && inner.name === 'Datetime';
      if (inner && !datetime) continue; // an embedded object: not a property a profile can hold
      // Only a datetime has a cim:Datetime inside (a nil one has nothing), and once a list, always a list.
      const base = datetime ? 'datetime' : known?.type.replace('[]', '') ?? 'string';
      f.properties.set(name.toLowerCase(), { name, type: `${base}${values.length > 1 || known?.type.endsWith('[]') ? '[]' : ''}` });
      // A datetime as written (a --redact pattern must not make it something else); text scrubbed.
      const valueOf = (v: XmlNode) => (v.attrs.nil === 'true' ? null : elementsOf(v)[0] ? elementsOf(v)[0]!.text ?? '' : scrub(v.text ?? ''));
      row[name] = values.length > 1 ? values.map(valueOf) : valueOf(p);
    }
    f.rows.set(JSON.stringify(row), row);
  };

  /** Each instance in a reply's body: an element of a class of root/cimv2, property elements below it. */
  const keepInstances = (body: XmlNode | undefined) => {
    const visit = (n: XmlNode) => {
      if (n.name === 'ReferenceParameters' && n.ns === NS.wsman) return noteSelectors(n);
      const className = cimv2Class(n.ns);
      const cls = className ? classes.get(local(n).toLowerCase()) : undefined;
      // An instance's element is named as its class, in the class's namespace (its properties are in it too).
      if (className && !cls && className.toLowerCase() === local(n).toLowerCase()) return keepForeign(n);
      if (!cls) return elementsOf(n).forEach(visit);
      const row: Record<string, unknown> = {};
      for (const p of elementsOf(n)) {
        const name = Object.keys(cls.properties).find((k) => k.toLowerCase() === p.name.toLowerCase());
        if (!name) continue; // a property winrmd does not declare for this class
        const decl = cls.properties[name]!;
        const values = elementsOf(n).filter((q) => q.name === p.name);
        if (Object.hasOwn(row, name)) continue;
        const nil = p.attrs.nil === 'true';
        const typed = (text: string) => (decl.type === 'boolean' ? text === 'true' : /^(u?int|sint)/.test(decl.type) && !decl.type.endsWith('64') ? Number(text) : /^real/.test(decl.type) ? Number(text) : scrub(text));
        // A datetime is written inside a cim:Datetime element (DSP0230): its text is the value.
        // Strings as written, spaces and all (textOf trims).
        const valueOf = (v: XmlNode) => (decl.type === 'datetime' ? v.children[0]?.text : v.text) ?? '';
        row[name] = nil ? null : decl.array ? values.map((v) => typed(valueOf(v))) : typed(valueOf(p));
      }
      const kept = redact(row);
      const key = cls.keys.map((k) => String(kept[k] ?? '')).join('\0');
      let byKey = instances.get(cls.name);
      if (!byKey) instances.set(cls.name, (byKey = new Map()));
      byKey.set(key, kept);
      if (cls.name === 'Win32_ComputerSystem' && typeof kept.Name === 'string') hostName = kept.Name;
    };
    visit(body ?? { ns: '', name: '', attrs: {}, children: [], text: '' });
  };

  /** What a request and its reply say, kept: the identity, instances, and shell commands. */
  const record = (requestXml: string, reply: string) => {
    let req: XmlNode;
    let rep: XmlNode;
    try {
      req = parseXml(requestXml, PARSE);
      rep = parseXml(reply, PARSE);
    } catch {
      return; // not ours to judge: the target answered what it answered
    }
    const header = child(req, NS.soap, 'Header');
    const action = textOf(child(header, NS.wsa, 'Action')) ?? '';
    const reqBody = elementsOf(child(req, NS.soap, 'Body'))[0];
    const repBody = child(rep, NS.soap, 'Body');
    if (child(repBody, NS.soap, 'Fault')) return;
    noteSelectors(header); // only a request the target answered says what its selectors are
    const identify = child(repBody, NS.wsmid, 'IdentifyResponse');
    if (identify) {
      identity.productVersion = textOf(child(identify, NS.wsmid, 'ProductVersion'));
      identity.productVendor = textOf(child(identify, NS.wsmid, 'ProductVendor'));
      return;
    }
    const shellId = (children(child(header, NS.wsman, 'SelectorSet'), NS.wsman, 'Selector').find((x) => x.attrs.Name?.toLowerCase() === 'shellid')?.text ?? '').toUpperCase();
    if (action === SHELL.command) {
      const line = [textOf(child(reqBody, NS.rsp, 'Command')) ?? '', ...children(reqBody, NS.rsp, 'Arguments').map((a) => textOf(a) ?? '')].join(' ');
      const id = textOf(child(child(repBody, NS.rsp, 'CommandResponse'), NS.rsp, 'CommandId'));
      if (id) commands.set(id.toUpperCase(), { shellId, line: line.trim(), stdin: [], stdout: [], stderr: [], bytes: 0, truncated: false });
      return;
    }
    // A command terminated, or its shell deleted, before its Done: nothing of it is kept.
    if (action === SHELL.signal || (action === ACTION.delete && shellId)) {
      const ended = action === SHELL.signal ? [(reqBody?.attrs.CommandId ?? '').toUpperCase()] : [...commands].filter(([, c]) => c.shellId === shellId).map(([id]) => id);
      for (const id of ended) commands.delete(id);
      return;
    }
    if (action === SHELL.send || action === SHELL.receive) {
      const holder = action === SHELL.send ? reqBody : child(repBody, NS.rsp, 'ReceiveResponse');
      for (const s of children(holder, NS.rsp, 'Stream')) {
        const c = commands.get((s.attrs.CommandId ?? '').toUpperCase());
        const data = Buffer.from(textOf(s) ?? '', 'base64');
        if (!c || data.length === 0) continue;
        if (c.bytes + data.length > COMMAND_BYTES * 3 || recordedBytes + data.length > RECORDING_BYTES) {
          c.truncated = true;
          continue;
        }
        c.bytes += data.length;
        recordedBytes += data.length;
        c[s.attrs.Name === 'stdin' ? 'stdin' : s.attrs.Name === 'stderr' ? 'stderr' : 'stdout'].push(data);
      }
      const state = child(holder, NS.rsp, 'CommandState');
      const c = state && commands.get((state.attrs.CommandId ?? '').toUpperCase());
      if (c && state.attrs.State === SHELL.stateDone && c.truncated) {
        o.log.warn({ event: 'record_truncated', command: scrub(c.line), reason: 'over 3 MiB, or the recording over 64 MiB: not recorded' });
        commands.delete((state.attrs.CommandId ?? '').toUpperCase());
      } else if (c && state.attrs.State === SHELL.stateDone) {
        c.exitCode = Number(textOf(child(state, NS.rsp, 'ExitCode')) ?? 0);
        const stdin = Buffer.concat(c.stdin).toString('utf8');
        rules.set(`${c.line}\0${stdin}`, c);
        commands.delete((state.attrs.CommandId ?? '').toUpperCase());
      }
      return;
    }
    keepInstances(repBody);
  };

  // The recorder's "core": every authenticated envelope forwarded as it came, its reply passed back as the target wrote it.
  const forwarder = {
    async handle(xml: string): Promise<Reply> {
      const r = await client.post(o.target, xml, 120_000);
      if (r.text) record(xml, r.text);
      return { status: r.status, body: r.text ?? '' };
    },
  };
  const app = createApp({ core: forwarder, auth: new AuthService(authenticators, new FailureThrottle(configSchema.parse({}).security.lockout)), log: o.log, maxBodyBytes: 8 * 1024 * 1024 });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host, resolve);
  });

  /**
   * A foreign class's keys, and whether each row has its own: the selector names of requests the
   * target answered; else the first of Name and its other single-valued properties that every
   * row has, never null and never the same twice (Windows writes Win32_QuickFixEngineering's Name
   * nil in every row); else its first single-valued property, rows kept whole. None: not declared.
   */
  const keysOf = (f: Foreign): { keys: string[]; unique: boolean } => {
    const single = [...f.properties.values()].filter((p) => !p.type.endsWith('[]')).map((p) => p.name);
    const named = (k: string) => single.find((p) => p.toLowerCase() === k.toLowerCase());
    const bySelectors = [...new Set([...f.selectors].map(named).filter((k): k is string => k !== undefined))];
    if (bySelectors.length > 0) return { keys: bySelectors, unique: true };
    const rows = [...f.rows.values()];
    const distinct = (p: string) => new Set(rows.map((r) => JSON.stringify(r[p] ?? null))).size === rows.length && rows.every((r) => r[p] !== null && r[p] !== undefined);
    const candidates = [...new Set([named('Name'), ...single].filter((k): k is string => k !== undefined))];
    const key = candidates.find(distinct);
    return key ? { keys: [key], unique: true } : { keys: candidates.slice(0, 1), unique: false };
  };
  /**
   * Its rows in the declaration's terms: a list property as a list (one element written once;
   * none written at all is an empty list, which is how it was written); a row without a key (a
   * WQL projection) left out; the latest of each key where keys tell rows apart.
   */
  const foreignRows = (f: Foreign, { keys, unique }: { keys: string[]; unique: boolean }) => {
    const out = new Map<string, Record<string, unknown>>();
    for (const [whole, row] of f.rows) {
      if (!keys.every((k) => Object.hasOwn(row, k))) continue;
      const asDeclared = ({ name, type }: { name: string; type: string }) => (!type.endsWith('[]') ? row[name] : !Object.hasOwn(row, name) ? [] : row[name] === null || Array.isArray(row[name]) ? row[name] : [row[name]]);
      const full = Object.fromEntries([...f.properties.values()].filter((p) => Object.hasOwn(row, p.name) || p.type.endsWith('[]')).map((p) => [p.name, asDeclared(p)]));
      out.set(unique ? JSON.stringify(keys.map((k) => full[k] ?? null)) : whole, full);
    }
    return [...out.values()];
  };

  return {
    port: (server.address() as AddressInfo).port,
    labFile() {
      const text = (b: Buffer[]) => scrub(Buffer.concat(b).toString('utf8'));
      // A class only ever addressed by selectors, or with no single-valued property for a key, is not declared.
      const declared = [...foreign.values()].filter((f) => f.rows.size > 0).map((f) => ({ f, keys: keysOf(f) })).filter(({ keys }) => keys.keys.length > 0);
      const profile = {
        ...(identity.productVersion ? { productVersion: identity.productVersion } : {}),
        ...(identity.productVendor ? { productVendor: identity.productVendor } : {}),
        templates: false,
        ...(declared.length > 0 ? { declare: Object.fromEntries(declared.map(({ f, keys }) => [f.name, { keys: keys.keys, properties: Object.fromEntries([...f.properties.values()].map((p) => [p.name, p.type])) }])) } : {}),
        classes: {
          ...Object.fromEntries([...instances].map(([cls, rows]) => [cls, [...rows.values()]])),
          ...Object.fromEntries(declared.map(({ f, keys }) => [f.name, foreignRows(f, keys)])),
        },
        shell: {
          rules: [...rules.values()].map((c) => {
            const stdin = text(c.stdin);
            return { command: `^${escapeRegExp(scrub(c.line))}$`, ...(stdin ? { stdin: `^${escapeRegExp(stdin)}$` } : {}), stdout: text(c.stdout), stderr: text(c.stderr), exitCode: c.exitCode ?? 0 };
          }),
          fallback: 'not-found',
        },
      };
      const lab = {
        users: [{ name: o.user.name, password: randomBytes(12).toString('base64url'), roles: ['administrator'] }],
        profiles: { recorded: profile },
        hosts: [{ name: hostName ?? 'recorded', profile: 'recorded', address: '127.0.0.1', port: 5985 }],
      };
      return `# Recorded by winrmd record from ${o.target} on ${new Date().toISOString()}.\n# No credential was recorded: the user's password here is a new one, for the lab only.\n${writeYaml(lab)}`;
    },
    async close() {
      client.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
