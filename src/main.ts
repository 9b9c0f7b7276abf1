#!/usr/bin/env node
// The command line: `winrmd serve` and the admin subcommands.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import { credentialsFor } from './auth/passwords.js';
import { generateSelfSigned, thumbprint, writePemPair } from './http/tls.js';
import { ConfigError, loadConfig } from './config/load.js';
import { YamlError } from './config/yaml.js';
import type { RunningLab } from './lab/index.js';
import { readCredentials } from './eventing/client.js';
import { createLogger } from './server.js';
import type { Config } from './config/schema.js';
import { openCollectorStore, startServer, stateFile } from './server.js';
import { openDb } from './store/db.js';
import { DEFAULT_ROLE, rolesOf, SqliteUserStore } from './store/users.js';
import { BUILT_IN_ROLES } from './admin/access.js';
import { AuditLog } from './admin/audit.js';
import { askControl, controlPath, type LiveSession } from './admin/control.js';
import { createInvitation, answerInvitation, invitationState, parseSpan } from './admin/invitations.js';
import { SUBSCRIPTION_USAGE, subscriptionCommand } from './eventing/subscription-cli.js';
import { simpleQuery, SubscriptionError } from './eventing/subscription.js';
import { compileQuery, matches } from './eventing/event-query.js';
import { journalEventXml, journalFacts, readJournal } from './eventing/journal.js';
import { ENCTYPE } from './auth/kerberos/crypto.js';
import { describeKeytab, parseKeytab } from './auth/kerberos/keytab.js';

const USAGE = `usage:
  winrmd serve [--config FILE]                 run the server
  winrmd user add NAME [--run-as ACCOUNT] [--role ROLE …] [--event-source]
                                               add or update a user (password from a prompt or stdin) with
                                               its roles (default helper: viewer, helper, elevated,
                                               administrator, or a security.roles name); an event source is a
                                               Windows forwarder (the collector only)
  winrmd user roles NAME ROLE…                 give a user exactly these roles
  winrmd user list                             list users and their roles
  winrmd user remove NAME                      remove a user
  winrmd cert generate [--host NAME] [--force] write a self-signed HTTPS certificate (TLS 1.2/1.3 listener)
                                               to stateDir, where serve picks it up
${SUBSCRIPTION_USAGE}
  winrmd kerberos check [--keytab FILE]        list the keytab's principals, key versions and encryption types,
                                               and which of them winrmd can use
  winrmd journal query (--query FILE | --channel C …) [--level 1,2] [--event-id N,…] [--after CURSOR]
                       [--limit N] [--journal-dir DIR] [--format Raw|RenderedText]
                                               the host's journal as the Windows events a query selects, one per
                                               line (the cursor to go on from, on stderr): what a forwarder sends
  winrmd invite create [--role ROLE] [--expires 2h] [--uses 1] [--consent] [--run-as ACCOUNT]
                                               a one-time account a helper uses as user and password (Basic
                                               or NTLM); printed once. With --consent its first request waits
                                               until someone here accepts it
  winrmd invite list                           invitations and their state (open, used up, expired, revoked)
  winrmd invite revoke NAME                    it stops working at once, on open connections too
  winrmd session accept|deny NAME              answer an invited helper waiting for consent
  winrmd session list                          the running server's open shells, enumerations, subscriptions
                                               and event sources heard from within two heartbeat intervals
  winrmd session end ID                        close that shell (its processes end), enumeration or
                                               subscription (an event source cannot be ended from here)
  winrmd audit list [--since TIME] [--user NAME] [--kind KIND] [--limit N]
                                               the audit trail, oldest first (one line each)
  winrmd audit export                          every record as a JSON line, with its hash and link
  winrmd audit sessions [--since TIME] [--user NAME]
                                               remote shells as session reports: who, from where, when,
                                               for how long, and each command with its exit code
  winrmd audit verify                          walk the hash chain: exit 1 naming each record
                                               changed or missing since it was written
  winrmd lab --config LAB.yaml [--inventory FILE]
                                               serve the lab file's virtual Windows hosts (test-lab mode),
                                               printing each host's name, address and port; --inventory
                                               also writes them as an Ansible inventory
  winrmd lab ctl --config LAB.yaml list|down|up|slow|restore [HOST|all] [MS]
                                               the running lab's hosts: take one down (connections
                                               refused), bring it up, slow every request by MS, restore
  winrmd record --target URL --out LAB.yaml --user NAME --password-file FILE [--basic]
                [--cert-file F --key-file F] [--ca-file F] [--listen 127.0.0.1:5985] [--redact REGEX …]
                                               stand between WinRM clients and a real endpoint: clients
                                               use NAME and that password here (Basic or NTLM); winrmd
                                               forwards with them (NTLM, or Basic over HTTPS; or the
                                               client certificate) and, when stopped, writes what it saw
                                               as a lab file that winrmd lab serves back
options:
  --config FILE   the YAML configuration (default: config/winrmd.yaml of this installation, if present)
every configuration key can also be set by an environment variable, e.g. WINRMD_LISTENERS__HTTP__PORT=8080`;

/** The bundled config/winrmd.yaml, found relative to this file in source and in dist/. */
function defaultConfigFile(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) {
    const candidate = path.resolve(here, up, 'config', 'winrmd.yaml');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    // Non-interactive: the first line of stdin (`echo secret | winrmd user add alice`).
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Do not echo what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.startsWith('Password')) process.stderr.write(s);
  };
  const answer = await new Promise<string>((resolve) => rl.question('Password: ', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

/** A built-in role, or one of security.roles (names compare case-insensitively). */
const roleExists = (config: Config, role: string) =>
  role.toLowerCase() in BUILT_IN_ROLES || Object.keys(config.security.roles).some((r) => r.toLowerCase() === role.toLowerCase());

async function userCommand(config: Config, args: string[], runAs: string | undefined, eventSource: boolean, roles: string[] | undefined): Promise<number> {
  const [verb, name] = args;
  const badRole = [...(roles ?? []), ...(verb === 'roles' ? args.slice(2) : [])].find((r) => !roleExists(config, r));
  if (badRole) {
    console.error(`winrmd: no role is named ${badRole} (built in: ${Object.keys(BUILT_IN_ROLES).join(', ')}; or one of security.roles)`);
    return 2;
  }
  const db = openDb(stateFile(config));
  const users = new SqliteUserStore(db);
  const audit = new AuditLog(db);
  const changed = (data: Record<string, unknown>) => {
    audit.append({ kind: 'user_changed', user: os.userInfo().username, data: { ...data, by: 'winrmd user' } });
    audit.flush();
  };
  try {
    switch (verb) {
      case 'add': {
        if (!name) break;
        const password = await readPassword();
        if (!password) {
          console.error('winrmd: an empty password is not accepted');
          return 2;
        }
        // Both forms: the scrypt hash for Basic, the NT hash for NTLM. Neither gives back the password.
        // An event source starts no process: its runAs is never used.
        const given = eventSource ? ['event-source'] : roles ?? [DEFAULT_ROLE];
        users.put({ name, ...(await credentialsFor(password)), runAs: eventSource ? '' : runAs ?? name, ...(eventSource ? { eventSource } : {}), roles: given });
        changed({ verb: 'add', name, roles: given, runAs: eventSource ? '' : runAs ?? name });
        console.log(`${eventSource ? 'event source' : 'user'} ${name} saved${eventSource ? '' : ` (runs as ${runAs ?? name}; roles ${given.join(', ')})`} in ${stateFile(config)}`);
        return 0;
      }
      case 'roles': {
        const user = name ? users.get(name) : undefined;
        if (!user || args.length < 3) break;
        users.put({ ...user, roles: args.slice(2) });
        changed({ verb: 'roles', name: user.name, roles: args.slice(2) });
        console.log(`user ${user.name}: roles ${args.slice(2).join(', ')}`);
        return 0;
      }
      case 'list':
        for (const u of users.list()) console.log(`${u.name}\t${u.eventSource ? 'event source' : `runAs=${u.runAs}\troles=${rolesOf(u).join(',')}`}\tntlm=${u.ntHash ? 'yes' : 'no (add again to set)'}`);
        return 0;
      case 'remove':
        if (!name) break;
        if (!users.remove(name)) {
          console.error(`winrmd: no user ${name}`);
          return 1;
        }
        changed({ verb: 'remove', name });
        console.log(`user ${name} removed`);
        return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    db.close();
  }
}

async function inviteCommand(config: Config, command: string, args: string[], values: { role?: string[]; expires?: string; uses?: string; consent?: boolean; 'run-as'?: string }): Promise<number> {
  if (command === 'session' && (args[0] === 'list' || args[0] === 'end')) {
    let reply: Record<string, unknown>;
    try {
      reply = await askControl(controlPath(config.stateDir), args[0] === 'list' ? { cmd: 'sessions' } : { cmd: 'end', id: args[1] ?? '' });
    } catch (err) {
      console.error(`winrmd: no server answers in ${config.stateDir} (${(err as Error).message})`);
      return 1;
    }
    if (typeof reply.error === 'string') {
      console.error(`winrmd: the server could not answer: ${reply.error}`);
      return 1;
    }
    if (args[0] === 'end') {
      const { ended, refused } = reply as { ended?: boolean; refused?: string }; // an EndOutcome
      console.log(ended ? `${args[1]} ended` : refused ? `${args[1]} cannot be ended: ${refused}` : `no open session is ${args[1]}`);
      return ended ? 0 : 1;
    }
    // kind, id, user (an event source: its name), from, since, detail
    for (const x of reply.sessions as LiveSession[]) console.log([x.kind, x.id, x.user, x.from ?? '-', x.since, x.detail].join('\t'));
    return 0;
  }
  const db = openDb(stateFile(config));
  const users = new SqliteUserStore(db);
  const audit = new AuditLog(db);
  const by = os.userInfo().username;
  const note = (kind: string, user: string, data: Record<string, unknown>) => {
    audit.append({ kind, user, data: { ...data, by } });
    audit.flush();
  };
  try {
    const [verb, name] = args;
    if (command === 'invite' && verb === 'create') {
      const role = values.role?.[0] ?? DEFAULT_ROLE;
      const expiresInMs = parseSpan(values.expires ?? '2h');
      const uses = Number(values.uses ?? 1);
      if (!roleExists(config, role)) {
        console.error(`winrmd: no role is named ${role}`);
        return 2;
      }
      if (!expiresInMs || !Number.isInteger(uses) || uses < 1) {
        console.error('winrmd: --expires is a number and s, m, h or d (2h); --uses a positive integer');
        return 2;
      }
      const made = await createInvitation(users, { role, expiresInMs, uses, consent: values.consent ?? false, runAs: values['run-as'] ?? 'nobody', createdBy: by });
      note('invitation_created', made.user, { role, expiresAt: made.invitation.expiresAt, uses, consent: made.invitation.consent });
      console.log(`user:     ${made.user}\npassword: ${made.password}\nrole:     ${role}\nexpires:  ${made.invitation.expiresAt}\nuses:     ${uses}${made.invitation.consent ? '\nconsent:  its first request waits for winrmd session accept' : ''}`);
      return 0;
    }
    if (command === 'invite' && verb === 'list') {
      for (const u of users.list().filter((x) => x.invitation)) {
        const inv = u.invitation!;
        console.log([u.name, rolesOf(u).join(','), inv.expiresAt, `${inv.used}/${inv.uses}`, invitationState(inv), inv.createdBy ?? ''].join('\t'));
      }
      return 0;
    }
    const answer = ({ 'invite revoke': 'revoke', 'session accept': 'accept', 'session deny': 'deny' } as const)[`${command} ${verb}` as 'invite revoke'];
    if (answer && name) {
      const u = answerInvitation(users, audit, name, answer, { user: by });
      audit.flush();
      if (!u) {
        console.error(`winrmd: no invitation is named ${name}`);
        return 1;
      }
      console.log(`${u.name}: ${invitationState(u.invitation!)}`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    db.close();
  }
}

async function auditCommand(config: Config, args: string[], values: { since?: string; user?: string; kind?: string; limit?: string }): Promise<number> {
  const db = openDb(stateFile(config));
  const audit = new AuditLog(db);
  try {
    switch (args[0]) {
      case 'list':
        for (const r of audit.list({ since: values.since, user: values.user, kind: values.kind, limit: values.limit ? Number(values.limit) : undefined })) {
          console.log([r.seq, r.at, r.kind, r.user ?? '-', r.address ?? '-', JSON.stringify(r.data)].join('\t'));
        }
        return 0;
      case 'export':
        for (const r of audit.list()) console.log(JSON.stringify(r));
        return 0;
      case 'sessions':
        // As Remote Help reports them: who helped on this host, from where, when, for how long, what ran.
        for (const x of audit.sessions({ since: values.since, user: values.user })) {
          console.log(`${x.started}\t${x.user ?? '-'}\ton ${os.hostname()}\tfrom ${x.from ?? '-'}\tas ${x.runAs ?? '-'}\t${x.ended ? `${x.seconds!.toFixed(1)} s (${x.endedBy})` : 'open'}\tshell ${x.shellId}`);
          for (const c of x.commands) console.log(`\t${c.started}\tpid ${c.pid ?? '-'}\t${c.exitCode === undefined ? 'running' : `exit ${c.exitCode ?? c.signal}`}${c.commandLine ? `\t${c.commandLine}` : ''}`);
        }
        return 0;
      case 'verify': {
        const v = audit.verify();
        for (const p of v.problems) console.error(`winrmd: ${p}`);
        console.log(v.ok ? `audit trail intact: ${v.records} records` : `audit trail broken: ${v.problems.length} problem(s) in ${v.records} records`);
        return v.ok ? 0 : 1;
      }
    }
    console.error(USAGE);
    return 2;
  } finally {
    db.close();
  }
}

async function certCommand(config: Config, args: string[], host: string | undefined, force: boolean): Promise<number> {
  if (args[0] !== 'generate') {
    console.error(USAGE);
    return 2;
  }
  const { https } = config.listeners;
  const certFile = https.certFile || path.join(config.stateDir, 'https-cert.pem');
  const keyFile = https.keyFile || path.join(config.stateDir, 'https-key.pem');
  if (!force && (existsSync(certFile) || existsSync(keyFile))) {
    console.error(`winrmd: ${certFile} exists; --force replaces it`);
    return 1;
  }
  const pair = await generateSelfSigned(host ?? os.hostname());
  writePemPair(certFile, keyFile, pair);
  const cert = new X509Certificate(pair.cert);
  console.log(`certificate ${certFile}\nkey         ${keyFile}\nsubject     ${cert.subject}\nnames       ${cert.subjectAltName}\nvalid until ${cert.validTo}\nthumbprint  ${thumbprint(cert.fingerprint)}`);
  return 0;
}

function kerberosCommand(args: string[], keytab: string): number {
  if (args[0] !== 'check') {
    console.error(USAGE);
    return 2;
  }
  if (!keytab) {
    console.error('winrmd: no keytab: set kerberos.keytab, or give --keytab FILE');
    return 2;
  }
  let entries;
  try {
    entries = parseKeytab(readFileSync(keytab));
  } catch (err) {
    console.error(`winrmd: ${keytab}: ${(err as Error).message}`);
    return 1;
  }
  const usable = new Set<number>(Object.values(ENCTYPE));
  for (const [line, e] of describeKeytab(entries).map((l, i) => [l, entries[i]!] as const)) console.log(`${line}${usable.has(e.enctype) ? '' : '\t(not used: winrmd accepts AES only)'}`);
  const services = new Set(entries.filter((e) => usable.has(e.enctype)).map((e) => `${e.principal}@${e.realm}`));
  console.log(`${entries.length} key(s); usable for ${services.size} principal(s)${[...services].some((p) => p.startsWith('HOST/')) ? '' : '; no HOST/ principal (Windows Server 2025 clients ask for HOST/<host>)'}`);
  return services.size > 0 ? 0 : 1;
}

async function journalCommand(args: string[], v: { query?: string; channel?: string[]; level?: string; 'event-id'?: string; after?: string; limit?: string; 'journal-dir'?: string; format?: string }): Promise<number> {
  if (args[0] !== 'query' || (!v.query && !v.channel?.length)) {
    console.error(USAGE);
    return 2;
  }
  const nums = (s: string | undefined) => (s ? s.split(',').map(Number) : []);
  let query;
  try {
    query = compileQuery(v.query ? readFileSync(v.query, 'utf8') : simpleQuery(v.channel!, nums(v.level), nums(v['event-id'])));
  } catch (err) {
    console.error(`winrmd: ${(err as Error).message}`);
    return 2;
  }
  const limit = Number(v.limit ?? 1000);
  let entries;
  try {
    entries = await readJournal({ directory: v['journal-dir'] }, { afterCursor: v.after, limit });
  } catch (err) {
    console.error(`winrmd: ${(err as Error).message}`);
    return 1;
  }
  const now = Date.now();
  for (const e of entries) if (matches(query, journalFacts(e), now)) console.log(journalEventXml(e, { rendered: v.format === 'RenderedText' }));
  const last = entries.at(-1)?.__CURSOR;
  if (typeof last === 'string') console.error(`cursor: ${last}`);
  return 0;
}

/** `winrmd lab`: serve a lab file's hosts until stopped; `winrmd lab ctl`: change them while they run. */
async function labCommand(args: string[], v: { config?: string; inventory?: string }): Promise<number> {
  // Loaded only for the lab: `winrmd serve` and the admin commands never need it.
  const { askLab, LabFileError, readLab, startLab } = await import('./lab/index.js');
  if (!v.config) {
    console.error('winrmd: lab needs --config LAB.yaml');
    return 2;
  }
  let lab;
  try {
    lab = readLab(v.config);
  } catch (err) {
    if (!(err instanceof LabFileError)) throw err;
    console.error(`winrmd: ${err.message}`);
    return 2;
  }
  // Relative to the lab file, as the configuration's paths are to theirs.
  const stateDir = lab.file.stateDir && path.resolve(path.dirname(v.config), lab.file.stateDir);
  if (args[0] === 'ctl') {
    if (!stateDir) {
      console.error('winrmd: the lab file names no stateDir, where its control socket would be');
      return 2;
    }
    const [verb = 'list', host = 'all', ms] = args.slice(1);
    const reply = await askLab(stateDir, { cmd: verb, host, ms }).catch((err: NodeJS.ErrnoException): Record<string, unknown> => ({ error: err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `no lab is running with ${stateDir}` : err.message }));
    if (reply.error) {
      console.error(`winrmd: ${String(reply.error)}`);
      return 1;
    }
    for (const h of reply.hosts as { name: string; address: string; port: number; up: boolean; slowMs: number }[]) {
      console.log([h.name, `${h.address}:${h.port}`, h.up ? 'up' : 'down', h.slowMs ? `slow ${h.slowMs} ms` : ''].join('\t').trimEnd());
    }
    return 0;
  }
  if (stateDir) {
    lab.file.stateDir = stateDir;
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700); // also when it was there before: the control socket lives in it
  }
  let running: RunningLab;
  try {
    running = await startLab(lab, createLogger(lab.config));
  } catch (err) {
    if (!(err instanceof LabFileError)) throw err;
    console.error(`winrmd: ${err.message}`);
    return 2;
  }
  for (const h of running.hosts) console.log(`${h.spec.name}\t${h.spec.address}:${h.port}\t${h.spec.profile}${h.spec.https ? '\thttps' : ''}`);
  if (v.inventory) writeFileSync(v.inventory, ansibleInventory(running), { mode: 0o600 });
  const stop = async () => {
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  return -1;
}

/** `winrmd record`: forward and record until stopped, then write the recording as a lab file. */
async function recordCommand(v: { target?: string; out?: string; listen?: string; user?: string; 'password-file'?: string; basic?: boolean; 'cert-file'?: string; 'key-file'?: string; 'ca-file'?: string; redact?: string[] }): Promise<number> {
  if (!v.target || !v.out || !v.user || !v['password-file']) {
    console.error('winrmd: record needs --target URL, --out FILE, --user NAME and --password-file FILE');
    return 2;
  }
  const { isLoopback, startRecorder } = await import('./lab/record.js');
  const [host = '', port] = (v.listen ?? '127.0.0.1:5985').split(/:(?=\d+$)/);
  if (!isLoopback(host)) {
    console.error(`winrmd: --listen ${v.listen}: the recorder listens on a loopback address only (its clients send it the target's password)`);
    return 2;
  }
  let redact: RegExp[];
  try {
    redact = (v.redact ?? []).map((r) => new RegExp(r));
  } catch (err) {
    console.error(`winrmd: --redact: ${(err as Error).message}`);
    return 2;
  }
  const files = { user: v.user, passwordFile: v['password-file'], basic: v.basic, caFile: v['ca-file'], certFile: v['cert-file'], keyFile: v['key-file'] };
  // A client certificate, when given, is how winrmd proves itself to the target; the password stays local.
  const credentials = readCredentials(files.certFile ? { certFile: files.certFile, keyFile: files.keyFile, caFile: files.caFile } : files);
  const password = readFileSync(v['password-file'], 'utf8').split(/\r?\n/)[0]!;
  const log = createLogger(loadConfig(undefined));
  // The recording must be writable before anything is recorded.
  writeFileSync(v.out, '# winrmd record: recording…\n', { mode: 0o600 });
  const recorder = await startRecorder({ target: v.target, credentials, listen: { host, port: Number(port ?? 5985) }, user: { name: v.user, password }, redact, log });
  console.log(`recording ${v.target}: clients connect to ${host}:${recorder.port} (path /wsman); stop with Ctrl+C to write ${v.out}`);
  const stop = async () => {
    writeFileSync(v.out!, recorder.labFile(), { mode: 0o600 });
    await recorder.close();
    console.log(`wrote ${v.out}`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  return -1;
}

/** The lab's hosts as an Ansible inventory (INI), reached with its winrm connection over HTTP. */
function ansibleInventory(lab: RunningLab): string {
  const lines = lab.hosts.map((h) => `${h.spec.name} ansible_host=${h.spec.address} ansible_port=${h.port}${h.spec.https ? ' ansible_winrm_scheme=https ansible_winrm_server_cert_validation=ignore' : ''}`);
  return `[lab]\n${lines.join('\n')}\n\n[lab:vars]\nansible_connection=winrm\nansible_winrm_scheme=http\nansible_winrm_transport=${lab.transport}\n`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' }, 'run-as': { type: 'string' }, 'event-source': { type: 'boolean' }, role: { type: 'string', multiple: true }, host: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      // winrmd subscription
      query: { type: 'string' }, channel: { type: 'string', multiple: true }, level: { type: 'string' }, 'event-id': { type: 'string' },
      format: { type: 'string' }, heartbeat: { type: 'string' }, 'max-time': { type: 'string' }, 'max-items': { type: 'string' },
      'max-envelope-size': { type: 'string' }, 'read-existing': { type: 'boolean' }, locale: { type: 'string' }, 'ignore-channel-error': { type: 'string' },
      allow: { type: 'string', multiple: true }, deny: { type: 'string', multiple: true }, uri: { type: 'string', multiple: true },
      output: { type: 'string', multiple: true }, enable: { type: 'boolean' }, silent: { type: 'string' },
      // winrmd kerberos
      keytab: { type: 'string' },
      // winrmd journal
      after: { type: 'string' }, limit: { type: 'string' }, 'journal-dir': { type: 'string' },
      // winrmd audit (and --limit)
      since: { type: 'string' }, user: { type: 'string' }, kind: { type: 'string' },
      // winrmd invite (and --role, --run-as)
      expires: { type: 'string' }, uses: { type: 'string' }, consent: { type: 'boolean' },
      // winrmd lab, winrmd record
      inventory: { type: 'string' }, target: { type: 'string' }, out: { type: 'string' }, listen: { type: 'string' }, redact: { type: 'string', multiple: true },
      'password-file': { type: 'string' }, basic: { type: 'boolean' }, 'cert-file': { type: 'string' }, 'key-file': { type: 'string' }, 'ca-file': { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'lab') return labCommand(rest, values);
  if (command === 'record') return recordCommand(values);
  const config = loadConfig(values.config ?? defaultConfigFile());
  if (command === 'user') return userCommand(config, rest, values['run-as'], values['event-source'] ?? false, values.role);
  if (command === 'kerberos') return kerberosCommand(rest, values.keytab ?? config.kerberos.keytab);
  if (command === 'audit') return auditCommand(config, rest, values);
  if (command === 'invite' || command === 'session') return inviteCommand(config, command, rest, values);
  if (command === 'journal') return journalCommand(rest, values);
  if (command === 'subscription') {
    const db = openDb(stateFile(config));
    const store = (await openCollectorStore(config, db))!;
    try {
      const code = await subscriptionCommand(store, rest, values);
      // Changes to what the collector accepts are kept in the audit trail (list, show, export, status read only).
      if (code === 0 && !['list', 'show', 'export', 'status'].includes(rest[0] ?? '')) {
        const audit = new AuditLog(db);
        audit.append({ kind: 'subscription_changed', user: os.userInfo().username, data: { verb: rest[0], subscription: rest[1], by: 'winrmd subscription' } });
        audit.flush();
      }
      return code;
    } catch (err) {
      // The user's mistakes (a definition, a file that cannot be read, YAML that does not parse) in one line.
      if (!(err instanceof SubscriptionError) && !(err as NodeJS.ErrnoException).code && !(err instanceof YamlError)) throw err;
      console.error(`winrmd: ${(err as Error).message}`);
      return 2;
    } finally {
      await store.close();
      db.close();
    }
  }
  if (command === 'cert') return certCommand(config, rest, values.host, values.force ?? false);
  if (command !== 'serve') {
    console.error(USAGE);
    return 2;
  }
  const server = await startServer({ config });
  const stop = async (signal: string) => {
    server.log.info({ event: 'stopping', signal });
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // logrotate's postrotate: the collector's output files are opened again by name.
  process.on('SIGHUP', () => void server.outputs?.reopen());
  process.once('SIGINT', () => void stop('SIGINT'));
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    console.error(`winrmd: ${err instanceof ConfigError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 1;
  },
);
