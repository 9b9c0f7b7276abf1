// A lab file (issue 17): the virtual hosts `winrmd lab` serves, their profiles (CIM instances as
// data, scripted shell rules), users and faults. The sections winrmd.yaml also has (service,
// security, limits, shell) are read by the configuration's own schema, so a lab host is bounded
// and secured as a winrmd is. Every problem is reported at its line (src/config/yaml.ts).
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { z } from 'zod/v3';
import { configSchema, type Config } from '../config/schema.js';
import { describeIssues, readYaml, YamlError } from '../config/yaml.js';
import { CIM_TYPES } from '../provider-api.js';
import { isFaultId } from '../soap/faults.js';

export class LabFileError extends Error {}

const text = z.string();

/** One scripted answer (src/lab/shell.ts): what it matches, and what the command then does. */
const ruleSchema = z.object({
  /** Regular expression on the whole command line (program and arguments, as cmd.exe would see them). */
  command: z.string().optional(),
  /** Regular expression on the PowerShell script of `powershell -EncodedCommand` (decoded from UTF-16LE base64). */
  powershell: z.string().optional(),
  /** Regular expression on everything sent to stdin: a command the rule's command or powershell matches waits for its input to end. */
  stdin: z.string().optional(),
  stdout: text.default(''),
  stderr: text.default(''),
  exitCode: z.number().int().default(0),
  /** Before any output. */
  delayMs: z.number().int().min(0).max(3_600_000).default(0),
  /** Output over time: each part after its delay (from the one before). */
  stream: z.array(z.object({ afterMs: z.number().int().min(0).max(3_600_000).default(0), stdout: text.optional(), stderr: text.optional() }).strict()).default([]),
}).strict()
  // Only the commands a stdin rule names wait for their input to end: any other answers at once.
  .refine((r) => r.command !== undefined || r.powershell !== undefined, 'a rule matches on command or powershell (and stdin, if it reads input)');

const profileSchema = z.object({
  /** Identify's ProductVersion (Windows writes `OS: 10.0.20348 SP: 0.0 Stack: 3.0`). */
  productVersion: z.string().default('OS: 10.0.20348 SP: 0.0 Stack: 3.0'),
  productVendor: z.string().default('Microsoft Corporation'),
  /** Whether `{{var}}` in the profile's strings is a template; a recorded profile says false (its text is a real host's, as it was). */
  templates: z.boolean().default(true),
  /**
   * Classes of root/cimv2 that winrmd does not declare (a Windows host has many more), for this
   * profile's instances: key properties, and every property's CIM type in the order instances are
   * written (`string`, `uint32`, `datetime`, …; `string[]` for an array).
   */
  declare: z.record(z.string().regex(/^[A-Za-z_]\w*$/, 'a class name'), z.object({
    /** A class winrmd declares or this profile does: enumerating it includes this one. */
    superclass: z.string().optional(),
    keys: z.array(z.string()).min(1),
    properties: z.record(z.string().regex(/^[A-Za-z_]\w*$/, 'a property name'), z.string().refine((t) => (CIM_TYPES as readonly string[]).includes(t.replace(/\[\]$/, '')), `a CIM type: ${CIM_TYPES.join(', ')}; with [] for an array`)),
  }).strict()).default({}),
  /** CIM instances by class name (a class of root/cimv2 winrmd serves, or one declared above), each a map of property values. */
  classes: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))).default({}),
  shell: z.object({
    rules: z.array(ruleSchema).default([]),
    /** What a command no rule matches does: `not-found` (as cmd.exe: exit 9009), or `run` it on this machine (only with lab.allowRealExecution). */
    fallback: z.enum(['not-found', 'run']).default('not-found'),
  }).strict().default({ rules: [], fallback: 'not-found' }),
}).strict();

/** An account of the lab's hosts (Basic and NTLM). A lab's passwords are in its file: never reuse real ones. */
const userSchema = z.object({ name: z.string().min(1), password: z.string().min(1), roles: z.array(z.string()).default(['administrator']), runAs: z.string().default('lab') }).strict();

const hostGroupSchema = z.object({
  /** The host name, a template: `web{{n:03}}` names web001, web002, … */
  name: z.string().min(1),
  count: z.number().int().min(1).max(65_536).default(1),
  profile: z.string(),
  /** The first host's address; each next host takes the next one (127.0.0.0/8 has room for every host). */
  address: z.string().refine(isIPv4, 'an IPv4 address').default('127.0.0.1'),
  /** The same port on every address; 0 picks a free one for each host. */
  port: z.number().int().min(0).max(65_535).default(5985),
  /** HTTPS (TLS 1.2 and 1.3) with the lab's self-signed certificate, instead of HTTP. */
  https: z.boolean().default(false),
  /** Variables the profile's templates may use as {{name}}. */
  vars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** These hosts' own accounts, instead of the lab's `users`. */
  users: z.array(userSchema).min(1).optional(),
  /** winrmd.yaml's `limits` and `shell` for these hosts only, key by key over the lab's: their own quotas. */
  limits: z.record(z.string(), z.unknown()).optional(),
  shell: z.record(z.string(), z.unknown()).optional(),
}).strict();

/** Faults that act before a request is read (src/lab/faults.ts). */
export const TRANSPORT_KINDS: ReadonlySet<string> = new Set(['reset', 'http', 'auth', 'hang', 'expired-certificate']);

const faultSchema = z.object({
  /** Host names (`*` any run of characters); absent: every host. */
  hosts: z.array(z.string()).optional(),
  kind: z.enum(['latency', 'reset', 'http', 'fault', 'auth', 'receive-timeout', 'hang', 'expired-certificate']),
  /** How often it strikes a request it applies to. */
  probability: z.number().min(0).max(1).default(1),
  /** Only requests of this action (its last path segment, e.g. Get, Command, Receive) or these. */
  actions: z.array(z.string()).optional(),
  /** latency: added before the reply. */
  ms: z.number().int().min(0).max(600_000).optional(),
  /** http: the status answered. */
  status: z.number().int().min(400).max(599).optional(),
  /** fault: the id of a fault of the catalogue (README, Faults), e.g. QuotaLimit, AccessDenied. */
  fault: z.string().optional(),
  /** When it applies: seconds after the lab starts, [from, until). */
  fromSeconds: z.number().min(0).optional(),
  untilSeconds: z.number().min(0).optional(),
}).strict()
  .refine((f) => f.kind !== 'latency' || f.ms !== undefined, 'latency needs ms')
  .refine((f) => f.kind !== 'http' || f.status !== undefined, 'http needs status')
  .refine((f) => f.kind !== 'fault' || (f.fault !== undefined && isFaultId(f.fault)), 'fault needs fault: the id of a fault of the catalogue (README, Faults), such as QuotaLimit')
  .refine((f) => !f.actions || !TRANSPORT_KINDS.has(f.kind), 'reset, http, auth and hang act before the request is read: they cannot be narrowed to actions')
  // The certificate is the listener's: it is presented to every connection, from the start.
  .refine((f) => f.kind !== 'expired-certificate' || (f.probability === 1 && !f.actions && f.fromSeconds === undefined && f.untilSeconds === undefined), 'expired-certificate is the host\'s certificate: no probability, actions or schedule');

export const labSchema = z.object({
  /** The accounts of every host whose group has none of its own. */
  users: z.array(userSchema).default([]),
  profiles: z.record(z.string(), profileSchema),
  hosts: z.array(hostGroupSchema).min(1),
  faults: z.array(faultSchema).default([]),
  /** The faults' random choices are this seed's: a run can be repeated. */
  seed: z.number().int().default(1),
  /** Lets a profile's `fallback: run` run commands on this machine (as winrmd's own account). */
  allowRealExecution: z.boolean().default(false),
  /** Where `winrmd lab ctl` finds the lab (its control socket); empty: none. */
  stateDir: z.string().default(''),
  service: z.unknown().optional(),
  security: z.unknown().optional(),
  limits: z.unknown().optional(),
  shell: z.unknown().optional(),
}).strict();

export type LabFile = z.infer<typeof labSchema>;
export type Profile = z.infer<typeof profileSchema>;
export type ShellRule = z.infer<typeof ruleSchema>;
export type FaultSpec = z.infer<typeof faultSchema>;
export type LabUser = z.infer<typeof userSchema>;

/** A lab file read and checked, with its hosts' configuration. */
export interface Lab {
  file: LabFile;
  /** The lab's own sections: what every host shares (service, security) and what a group may change (limits, shell). */
  config: Config;
  /** Each host group's configuration: the lab's, with the group's limits and shell over it. */
  groupConfigs: Config[];
  /** `file:line` of a node, for problems found after validation (a template's unknown variable). */
  at(path: readonly PropertyKey[]): string;
}

export function readLab(fileName: string, textOf: (f: string) => string = (f) => readFileSync(f, 'utf8')): Lab {
  let read;
  try {
    read = readYaml(textOf(fileName), fileName);
  } catch (err) {
    throw new LabFileError(err instanceof YamlError ? err.message : `cannot read the lab file ${fileName}: ${(err as Error).message}`);
  }
  const parsed = labSchema.safeParse(read.value);
  if (!parsed.success) throw new LabFileError(`invalid lab file:\n${describeIssues(read, parsed.error.issues)}`);
  const file = parsed.data;
  const { service, security, limits, shell } = file;
  const sections = { service: service ?? { allowUnencrypted: true }, security, limits, shell };
  const config = configSchema.safeParse(sections);
  if (!config.success) throw new LabFileError(`invalid lab file:\n${describeIssues(read, config.error.issues)}`);
  const problems: string[] = [];
  if (config.data.service.auth.certificate) problems.push(`${read.at(['service', 'auth', 'certificate'])}: service.auth.certificate: lab hosts take Basic and NTLM, not client certificates`);
  const groupConfigs = file.hosts.map((h, i) => {
    if (!Object.hasOwn(file.profiles, h.profile)) problems.push(`${read.at(['hosts', i, 'profile'])}: hosts.${i}.profile: no profile is named ${h.profile}`);
    if (!h.users && file.users.length === 0) problems.push(`${read.at(['hosts', i])}: hosts.${i}: no accounts: give the lab users, or this group its own`);
    if (!h.limits && !h.shell) return config.data;
    // The lab's sections parsed, so what the schema refuses now is the group's: reported at its keys.
    const own = configSchema.safeParse({ ...sections, limits: { ...(limits as object | undefined), ...h.limits }, shell: { ...(shell as object | undefined), ...h.shell } });
    if (own.success) return own.data;
    problems.push(describeIssues(read, own.error.issues.map((issue) => ({ ...issue, path: ['hosts', i, ...issue.path] }))));
    return config.data;
  });
  for (const [name, p] of Object.entries(file.profiles)) {
    p.shell.rules.forEach((r, i) => {
      for (const key of ['command', 'powershell', 'stdin'] as const) {
        try {
          if (r[key] !== undefined) new RegExp(r[key]!);
        } catch (err) {
          problems.push(`${read.at(['profiles', name, 'shell', 'rules', i, key])}: profiles.${name}.shell.rules.${i}.${key}: ${(err as Error).message}`);
        }
      }
    });
    if (p.shell.fallback === 'run' && !file.allowRealExecution) problems.push(`${read.at(['profiles', name, 'shell', 'fallback'])}: profiles.${name}.shell.fallback: run needs allowRealExecution: true`);
  }
  if (problems.length > 0) throw new LabFileError(`invalid lab file:\n${problems.join('\n')}`);
  return { file, config: config.data, groupConfigs, at: read.at };
}
