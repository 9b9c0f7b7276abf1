// The classes every provider declares, indexed by namespace and name, with their inheritance.
// Class and namespace names are case-insensitive in CIM (DSP0004 §7.5.1).
import type { CimClass, Provider } from '../provider-api.js';
import { RESOURCE } from '../soap/names.js';

export interface ClassEntry {
  cls: CimClass;
  provider: Provider;
  /** The WMI-style resource URI that names this class (MS-WSMV 2.2.4.x). */
  uri: string;
}

export class ClassRegistry {
  private readonly byKey = new Map<string, ClassEntry>();
  /** family() results, computed once: the hierarchy only changes while providers load. */
  private readonly families = new Map<string, ClassEntry[]>();

  add(provider: Provider, cls: CimClass): void {
    this.families.clear();
    const key = classKey(cls.namespace, cls.name);
    const existing = this.byKey.get(key);
    if (existing) throw new Error(`class ${cls.namespace}:${cls.name} is declared by both ${existing.provider.name} and ${provider.name}`);
    this.byKey.set(key, { cls, provider, uri: wmiClassUri(cls.namespace, cls.name) });
  }

  find(namespace: string, name: string): ClassEntry | undefined {
    return this.byKey.get(classKey(namespace, name));
  }

  /** Every namespace that declares a class of this name. */
  namespacesOf(name: string): string[] {
    const suffix = `:${name.toLowerCase()}`;
    return [...this.byKey.entries()].filter(([k]) => k.endsWith(suffix)).map(([, e]) => e.cls.namespace);
  }

  /** The class itself and every class deriving from it, ancestors before descendants. */
  family(namespace: string, name: string): ClassEntry[] {
    const key = classKey(namespace, name);
    let family = this.families.get(key);
    if (!family) {
      family = this.computeFamily(namespace, name);
      this.families.set(key, family);
    }
    return family;
  }

  private computeFamily(namespace: string, name: string): ClassEntry[] {
    const root = this.find(namespace, name);
    if (!root) return [];
    const out: ClassEntry[] = [];
    for (const entry of this.byKey.values()) {
      if (classKey(entry.cls.namespace, '') !== classKey(namespace, '')) continue;
      if (this.derivesFrom(entry, root.cls.name)) out.push(entry);
    }
    return out.sort((a, b) => this.depth(a) - this.depth(b));
  }

  /** Whether `entry` is `ancestor` or derives from it. */
  derivesFrom(entry: ClassEntry, ancestor: string): boolean {
    for (let e: ClassEntry | undefined = entry, hops = 0; e && hops < 64; hops++) {
      if (e.cls.name.toLowerCase() === ancestor.toLowerCase()) return true;
      e = e.cls.superclass ? this.find(e.cls.namespace, e.cls.superclass) : undefined;
    }
    return false;
  }

  private depth(entry: ClassEntry): number {
    let d = 0;
    for (let e = entry; e.cls.superclass && d < 64; d++) {
      const up = this.find(e.cls.namespace, e.cls.superclass);
      if (!up) break;
      e = up;
    }
    return d;
  }
}

function classKey(namespace: string, name: string): string {
  return `${namespace.toLowerCase().replace(/\\/g, '/')}:${name.toLowerCase()}`;
}

export function wmiClassUri(namespace: string, name: string): string {
  return `${RESOURCE.wmi}/${namespace.replace(/\\/g, '/')}/${name}`;
}
