// Host profiles made into hosts (issue 17 item 2): the hosts of each group, each with its own
// variables, and the profile's CIM instances typed by the classes winrmd declares (the OS
// provider's root/cimv2 classes) or the profile declares, served through the same Get, Enumerate
// and WQL as the live provider. Templates are `{{name}}` or `{{n:03}}` (zero-padded): the host's name, its number in
// its group (n, from 1), its address and port, and the group's vars.
import { classProvider, defineClass, type ClassImpl, type Values } from '../../providers/common/cim.js';
import type { CimClass, CimScalar, CimType, CimValue, PropertyDecl, Provider } from '../provider-api.js';
import { LabFileError, type Lab, type Profile } from './file.js';

export type Vars = Record<string, string | number | boolean>;

/** One virtual host as the lab file describes it. */
export interface HostSpec {
  name: string;
  address: string;
  port: number;
  https: boolean;
  profile: string;
  vars: Vars;
  /** Its group's index in the file's hosts (its accounts and configuration are the group's). */
  group: number;
}

const TEMPLATE = /\{\{\s*([A-Za-z_][\w.]*)\s*(?::0(\d+))?\s*\}\}/g;

/** The template with each `{{var}}` (or `{{var:0N}}`) replaced; an unknown variable is the file's error, at `where`. */
export function expand(template: string, vars: Vars, where: string): string {
  const left = /\{\{[^}]*\}?\}?/.exec(template.replace(TEMPLATE, ''));
  if (left) throw new LabFileError(`${where}: ${left[0]} is not a template: {{name}} or {{name:0N}} (N digits, zero-padded)`);
  return template.replace(TEMPLATE, (_, name: string, width?: string) => {
    if (!Object.hasOwn(vars, name)) throw new LabFileError(`${where}: {{${name}}} is not a variable here (there are: ${Object.keys(vars).join(', ')})`);
    const v = String(vars[name]);
    return width ? v.padStart(Number(width), '0') : v;
  });
}

function nextAddress(address: string, by: number): string {
  const n = address.split('.').reduce((a, b) => a * 256 + Number(b), 0) + by;
  if (n > 0xffffffff) throw new LabFileError(`there are not ${by + 1} addresses after ${address}`);
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** Every host of the lab, each group's expanded; two hosts on one address and port are the file's error. */
export function hostSpecs(lab: Lab): HostSpec[] {
  const out: HostSpec[] = [];
  const taken = new Map<string, string>();
  lab.file.hosts.forEach((g, gi) => {
    for (let i = 0; i < g.count; i++) {
      const address = nextAddress(g.address, i);
      const base: Vars = { ...g.vars, n: i + 1, address, port: g.port };
      const name = expand(g.name, base, lab.at(['hosts', gi, 'name']));
      const key = `${address}:${g.port}`;
      if (g.port !== 0 && taken.has(key)) throw new LabFileError(`${lab.at(['hosts', gi])}: ${name} would listen on ${key}, where ${taken.get(key)} does`);
      taken.set(key, name);
      out.push({ name, address, port: g.port, https: g.https, profile: g.profile, vars: { ...base, name }, group: gi });
    }
  });
  const names = new Set<string>();
  for (const h of out) {
    if (names.has(h.name.toLowerCase())) throw new LabFileError(`two hosts are named ${h.name}: give each group a name template with {{n}}`);
    names.add(h.name.toLowerCase());
  }
  return out;
}

/** A CIM datetime (yyyymmddHHMMSS.mmmmmmsUUU) or an ISO 8601 time. */
function dateOf(s: string): Date | undefined {
  const cim = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$/.exec(s);
  if (cim) {
    const [, y, mo, d, h, mi, se, us, sign, off] = cim;
    const utc = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +se!, Math.floor(+us! / 1000));
    return new Date(utc - (sign === '-' ? -1 : 1) * Number(off) * 60_000);
  }
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** Why a value of the file is not of its property's type. */
class TypeProblem {
  constructor(readonly message: string) {}
}

/** A value of the file as the declared type, or why it is not one. */
function scalar(decl: PropertyDecl, v: unknown): CimScalar | TypeProblem {
  const t = decl.type;
  if (t === 'string' || t === 'char16') return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : new TypeProblem(`needs ${t}`);
  if (t === 'boolean') return typeof v === 'boolean' ? v : new TypeProblem('needs true or false');
  if (t === 'datetime') return (typeof v === 'string' && dateOf(v)) || new TypeProblem('needs a datetime (ISO 8601, or CIM yyyymmddHHMMSS.mmmmmm+UUU)');
  if (t === 'real32' || t === 'real64') return typeof v === 'number' ? v : new TypeProblem(`needs a number (${t})`);
  const n = typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : undefined;
  if (n === undefined) return new TypeProblem(`needs an integer (${t})`);
  const bits = Number(t.slice(4));
  const [min, max] = t.startsWith('u') ? [0n, 2n ** BigInt(bits) - 1n] : [-(2n ** BigInt(bits - 1)), 2n ** BigInt(bits - 1) - 1n];
  if (n < min || n > max) return new TypeProblem(`needs an integer in ${t}'s range`);
  return bits === 64 ? n : Number(n);
}

/**
 * The provider of one host: the profile's instances with the host's variables. The profile was
 * checked against the classes once (checkProfile); here only templates are expanded.
 */
export function dataProvider(profile: Profile, vars: Vars, classes: Map<string, CimClass>, where: (path: PropertyKey[]) => string, profileName: string): Provider {
  const impls: ClassImpl[] = [];
  const served = new Set<string>();
  for (const [className, rows] of Object.entries(profile.classes)) {
    const cls = classes.get(className.toLowerCase())!;
    served.add(cls.name);
    const values: Values[] = rows.map((row, ri) => Object.fromEntries(Object.entries(row).map(([prop, raw]) => {
      const name = Object.keys(cls.properties).find((p) => p.toLowerCase() === prop.toLowerCase())!;
      const decl = cls.properties[name]!;
      const at = () => where(['profiles', profileName, 'classes', className, ri, prop]);
      const one = (v: unknown) => {
        // Checked at load (checkProfile); a template may still expand to something of the wrong type.
        const x = scalar(decl, typeof v === 'string' && profile.templates ? expand(v, vars, at()) : v);
        if (x instanceof TypeProblem) throw new LabFileError(`${at()}: ${x.message} (as ${vars.name} has it)`);
        return x;
      };
      const value: CimValue = raw === null ? null : decl.array ? (raw as unknown[]).map(one) : one(raw);
      return [name, value];
    })));
    impls.push({ cls, list: async () => values });
  }
  // Every class of the namespace stays declared (the hierarchy resolves, CIM_ queries walk it); those without data list nothing.
  for (const cls of classes.values()) if (!served.has(cls.name)) impls.push({ cls });
  return classProvider({ name: 'lab', namespace: 'root/cimv2', impls });
}

/**
 * The profile's own classes (`declare`) beside winrmd's, by lower-case name (CIM names are
 * case-insensitive, DSP0004), each defined as winrmd defines its own: carrying its superclass's
 * properties, in WMI's order. Their problems go to `problems`.
 */
function declaredClasses(name: string, profile: Profile, known: Map<string, CimClass>, where: (path: PropertyKey[]) => string, problems: string[]): Map<string, CimClass> {
  const classes = new Map(known);
  const refuse = (path: PropertyKey[], message: string) => problems.push(`${where(path)}: ${path.join('.')}: ${message}`);
  const specs = new Map<string, { name: string; path: PropertyKey[]; superclass?: string; keys: string[]; properties: Record<string, PropertyDecl> }>();
  for (const [className, d] of Object.entries(profile.declare)) {
    const lower = className.toLowerCase();
    const path = ['profiles', name, 'declare', className];
    if (known.has(lower)) {
      refuse(path, `winrmd declares ${known.get(lower)!.name}: give its instances under classes, without declaring it`);
      continue;
    }
    if (specs.has(lower)) {
      refuse(path, `${className} is declared already, as ${specs.get(lower)!.name}`);
      continue;
    }
    const properties: Record<string, PropertyDecl> = {};
    const named = (prop: string) => Object.keys(properties).find((p) => p.toLowerCase() === prop.toLowerCase());
    for (const [prop, type] of Object.entries(d.properties)) {
      if (named(prop)) refuse([...path, 'properties', prop], `${prop} is declared already, as ${named(prop)}`);
      else properties[prop] = { type: type.replace(/\[\]$/, '') as CimType, ...(type.endsWith('[]') ? { array: true } : {}) };
    }
    const keys = d.keys.map((k) => named(k) ?? k);
    for (const k of keys) {
      if (!Object.hasOwn(properties, k)) refuse([...path, 'keys'], `the key ${k} is not one of its properties`);
      else if (properties[k]!.array) refuse([...path, 'keys'], `the key ${k} is a list: a selector is one value`);
    }
    specs.set(lower, { name: className, path, superclass: d.superclass, keys, properties });
  }
  // Each after its superclass. One that cannot have it (unknown, or a circle) is defined without,
  // so that its instances are still checked against what it declares.
  const defining = new Set<string>();
  const define = (lower: string): CimClass | undefined => {
    const s = specs.get(lower);
    if (classes.has(lower) || !s) return classes.get(lower);
    if (defining.has(lower)) {
      refuse([...s.path, 'superclass'], `${s.name} is its own superclass, through ${s.superclass}`);
      return undefined;
    }
    defining.add(lower);
    let parent: CimClass | undefined;
    if (s.superclass) {
      const up = s.superclass.toLowerCase();
      parent = define(up);
      if (!parent && !specs.has(up)) refuse([...s.path, 'superclass'], `there is no class ${s.superclass} in root/cimv2 (winrmd's, or declared here)`);
    }
    for (const [prop, decl] of Object.entries(s.properties)) {
      const inherited = Object.entries(parent?.properties ?? {}).find(([p]) => p.toLowerCase() === prop.toLowerCase())?.[1];
      if (inherited && (inherited.type !== decl.type || Boolean(inherited.array) !== Boolean(decl.array))) {
        refuse([...s.path, 'properties', prop], `${parent!.name} has ${prop} as ${inherited.type}${inherited.array ? '[]' : ''}`);
      }
    }
    const cls = defineClass({ name: s.name, namespace: 'root/cimv2', parent, keys: s.keys, properties: s.properties });
    classes.set(lower, cls);
    return cls;
  };
  for (const lower of specs.keys()) define(lower);
  return classes;
}

/**
 * A profile's classes (winrmd's root/cimv2 classes and its own declarations) and its problems:
 * bad declarations, unknown classes and properties, values of the wrong type.
 */
export function checkProfile(name: string, profile: Profile, known: Map<string, CimClass>, where: (path: PropertyKey[]) => string): { classes: Map<string, CimClass>; problems: string[] } {
  const problems: string[] = [];
  const classes = declaredClasses(name, profile, known, where, problems);
  const given = new Map<string, string>();
  for (const [className, rows] of Object.entries(profile.classes)) {
    const cls = classes.get(className.toLowerCase());
    const path = ['profiles', name, 'classes', className];
    if (given.has(className.toLowerCase())) {
      problems.push(`${where(path)}: ${path.join('.')}: the instances of ${className} are given already, as ${given.get(className.toLowerCase())}`);
      continue;
    }
    given.set(className.toLowerCase(), className);
    if (!cls) {
      problems.push(`${where(path)}: ${path.join('.')}: winrmd declares no class ${className} in root/cimv2: declare it (profiles.${name}.declare)`);
      continue;
    }
    rows.forEach((row, ri) => {
      const seen = new Map<string, string>();
      for (const [prop, raw] of Object.entries(row)) {
        const at = [...path, ri, prop];
        const decl = Object.entries(cls.properties).find(([p]) => p.toLowerCase() === prop.toLowerCase())?.[1];
        if (!decl) {
          problems.push(`${where(at)}: ${at.join('.')}: ${cls.name} has no property ${prop}`);
          continue;
        }
        if (seen.has(prop.toLowerCase())) {
          problems.push(`${where(at)}: ${at.join('.')}: ${prop} is given already, as ${seen.get(prop.toLowerCase())}`);
          continue;
        }
        seen.set(prop.toLowerCase(), prop);
        if (raw === null) continue;
        if (Boolean(decl.array) !== Array.isArray(raw)) {
          problems.push(`${where(at)}: ${at.join('.')}: ${decl.array ? 'needs a list' : 'needs one value, not a list'}`);
          continue;
        }
        // A template is checked as the host will have it: only its type here, its variables per host.
        for (const v of Array.isArray(raw) ? raw : [raw]) {
          const probe = typeof v === 'string' && profile.templates && v.includes('{{') ? undefined : scalar(decl, v);
          if (probe instanceof TypeProblem) problems.push(`${where(at)}: ${at.join('.')}: ${probe.message}`);
        }
      }
      for (const key of cls.keys) {
        if (!Object.keys(row).some((p) => p.toLowerCase() === key.toLowerCase())) problems.push(`${where([...path, ri])}: ${[...path, ri].join('.')}: the key ${key} is missing`);
      }
    });
  }
  return { classes, problems };
}
