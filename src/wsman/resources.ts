// Resource URI → what serves it (DESIGN.md principle 1): an exact URI a provider registered
// (a document resource: the shell, winrm/config),
// then a CIM class by its WMI URI (`…/wmi/<namespace>/<Class>`, MS-WSMV 2.2.4.x) or its DMTF URI
// (`…/cim-schema/2/<Class>` with the __cimnamespace selector, DSP0227 §7.1), then the WMI
// namespace wildcard `…/wmi/<namespace>/*` whose class comes from a WQL filter.
import { ClassRegistry, type ClassEntry } from '../cim/registry.js';
import type { DocumentResource, Provider, Selectors } from '../provider-api.js';
import { WsmanFault } from '../soap/faults.js';
import { CIM_NAMESPACE_SELECTOR, RESOURCE } from '../soap/names.js';

/**
 * What a request addresses. `route` keys the routing table (routes.ts): `class`, `namespace`,
 * or a document resource's own URI, whose action table is registered under it.
 */
export type Target =
  | { kind: 'class'; route: 'class'; entry: ClassEntry; namespace: string; selectors: Selectors }
  | { kind: 'namespace'; route: 'namespace'; namespace: string; selectors: Selectors }
  | { kind: 'document'; route: string; resource: DocumentResource; selectors: Selectors }
  /** Served by a capability of the server itself (the event collector), found by a resolver (routes.ts); `key` is what the resolver read from the URL path. */
  | { kind: 'capability'; route: string; selectors: Selectors; key?: string };

export const documentRoute = (uri: string): string => uri.toLowerCase();

export const DEFAULT_CIM_NAMESPACE = 'root/cimv2';

export class Resources {
  readonly classes = new ClassRegistry();
  private readonly documents = new Map<string, DocumentResource>();

  add(provider: Provider): void {
    for (const cls of provider.classes ?? []) this.classes.add(provider, cls);
    for (const doc of provider.documents ?? []) {
      const key = documentRoute(doc.uri);
      if (this.documents.has(key)) throw new Error(`resource ${doc.uri} is served twice`);
      this.documents.set(key, doc);
    }
  }

  resolve(resourceUri: string, requestSelectors: Selectors): Target {
    if (!resourceUri) throw new WsmanFault('DestinationUnreachable', 'The request has no ResourceURI.');
    const route = documentRoute(resourceUri);
    const doc = this.documents.get(route);
    if (doc) return { kind: 'document', route, resource: doc, selectors: requestSelectors };

    // __cimnamespace is addressing, not a key: consume it here (DSP0227 §7.1).
    const selectors = { ...requestSelectors };
    const nsSelector = Object.keys(selectors).find((k) => k.toLowerCase() === CIM_NAMESPACE_SELECTOR);
    const namespaceFromSelector = nsSelector ? selectors[nsSelector].replace(/\\/g, '/') : undefined;
    if (nsSelector) delete selectors[nsSelector];

    const lower = resourceUri.toLowerCase();
    let namespace: string;
    let className: string;
    if (lower.startsWith(`${RESOURCE.wmi}/`.toLowerCase())) {
      const path = resourceUri.slice(RESOURCE.wmi.length + 1).split('/');
      className = path.pop() ?? '';
      namespace = path.join('/');
      if (namespaceFromSelector && namespaceFromSelector.toLowerCase() !== namespace.toLowerCase()) {
        throw new WsmanFault('InvalidSelectors', `The __cimnamespace selector (${namespaceFromSelector}) contradicts the resource URI (${namespace}).`);
      }
    } else if (lower.startsWith(`${RESOURCE.dmtfCim}/`.toLowerCase())) {
      className = resourceUri.slice(RESOURCE.dmtfCim.length + 1);
      namespace = namespaceFromSelector ?? this.defaultNamespaceOf(className);
    } else {
      throw new WsmanFault('DestinationUnreachable', `No provider serves the resource URI ${resourceUri}.`);
    }
    if (className === '*' && namespace) return { kind: 'namespace', route: 'namespace', namespace, selectors };
    const entry = this.classes.find(namespace, className);
    if (!entry) throw new WsmanFault('DestinationUnreachable', `The class ${className} does not exist in namespace ${namespace}.`);
    return { kind: 'class', route: 'class', entry, namespace, selectors };
  }

  /**
   * A DMTF URI without __cimnamespace means root/cimv2 (MS-WSMV 2.2.4.x); a class that only
   * one other namespace declares is found there, so CIM_NumericSensor reaches root/hardware as
   * Windows' own DMTF URIs do.
   */
  private defaultNamespaceOf(className: string): string {
    if (this.classes.find(DEFAULT_CIM_NAMESPACE, className)) return DEFAULT_CIM_NAMESPACE;
    const found = this.classes.namespacesOf(className);
    return found.length === 1 ? found[0] : DEFAULT_CIM_NAMESPACE;
  }

  classInNamespace(namespace: string, className: string): ClassEntry {
    const entry = this.classes.find(namespace, className);
    if (!entry) throw new WsmanFault('DestinationUnreachable', `The class ${className} does not exist in namespace ${namespace}.`);
    return entry;
  }
}
