// winrm/config (MS-WSMV 3.1.4.1.29) as a provider: Get of the whole tree and of its parts (the
// Get table of 3.1.4.2), and the listeners, enumerated and got by their Address and Transport
// selectors (3.1.4.1.29.5). `winrm get winrm/config`, the Ruby WinRM gem's PowerShell shell
// (which sizes its PSRP fragments by MaxEnvelopeSizekb) and evil-winrm ask for it first. It is
// read-only: winrmd's settings come from winrmd.yaml, and changing them remotely waits for roles.
import os from 'node:os';
import {
  element,
  NAMES,
  PROVIDER_API_VERSION,
  ProviderError,
  type DocumentRequest,
  type DocumentResource,
  type Element,
  type Provider,
  type Selectors,
} from '../../src/provider-api.js';
import { configTree, listenerSelectors, listenerSetting, settingAt, type ConfigSnapshot, type Setting } from './tree.js';

export type { ConfigSnapshot, ListenerSnapshot } from './tree.js';

const { CONFIG } = NAMES;

/** Each part's resource URI and where it sits in the tree (3.1.4.2's Get table). */
const PARTS: [uri: string, path: string[]][] = [
  [CONFIG.root, []],
  [CONFIG.client, ['Client']],
  [CONFIG.clientAuth, ['Client', 'Auth']],
  [CONFIG.clientDefaultPorts, ['Client', 'DefaultPorts']],
  [CONFIG.service, ['Service']],
  [CONFIG.serviceAuth, ['Service', 'Auth']],
  [CONFIG.serviceDefaultPorts, ['Service', 'DefaultPorts']],
  [CONFIG.winrs, ['Winrs']],
];

/** A setting as an element, it and everything under it in `ns`, the part's own namespace. */
function toElement(ns: string, [name, value]: Setting, attrs: Record<string, string> = {}): Element {
  return typeof value === 'string' ? element(ns, name, attrs, value) : element(ns, name, attrs, ...value.map((s) => toElement(ns, s)));
}

/** A reply's root element, with the language Windows marks its configuration replies with. */
const reply = (ns: string, setting: Setting): Element => toElement(ns, setting, { 'xml:lang': 'en-US' });

const readOnly = async (): Promise<never> => {
  throw new ProviderError('ACCESS_DENIED', 'winrm/config is read-only until roles exist: winrmd takes its settings from winrmd.yaml.');
};
const writes = { put: readOnly, create: readOnly, delete: readOnly };

/** The host's addresses, for a listener's ListeningOn. */
function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((nics) => (nics ?? []).map((n) => n.address));
}

/** A selector's value by its name, compared without regard to case as Windows does. */
function selector(selectors: Selectors, name: string): string | undefined {
  const key = Object.keys(selectors).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : selectors[key];
}

/**
 * `settings` is read on every request: server.ts may hand a function so that the listeners'
 * ports and certificate, known only once they listen, are current.
 */
export function createConfigProvider(settings: ConfigSnapshot | (() => ConfigSnapshot)): Provider {
  const snapshot = typeof settings === 'function' ? settings : () => settings;

  const parts = PARTS.map(([uri, path]): DocumentResource => ({
    uri,
    async get(req: DocumentRequest) {
      if (Object.keys(req.selectors).length > 0) throw new ProviderError('INVALID_SELECTORS', `${uri} is a single resource: it takes no selectors.`);
      return reply(uri, settingAt(configTree(snapshot()), path)!);
    },
    ...writes,
  }));

  const listeners: DocumentResource = {
    uri: CONFIG.listener,
    async get(req) {
      const address = selector(req.selectors, 'Address');
      const transport = selector(req.selectors, 'Transport');
      if (address === undefined || transport === undefined) throw new ProviderError('INVALID_SELECTORS', 'A listener is selected by its Address and Transport.');
      const found = snapshot().listeners.find((l) => {
        const s = listenerSelectors(l);
        return s.Address.toLowerCase() === address.toLowerCase() && s.Transport.toLowerCase() === transport.toLowerCase();
      });
      if (!found) throw new ProviderError('NOT_FOUND', `There is no listener with Address ${address} and Transport ${transport}.`);
      return reply(CONFIG.listener, listenerSetting(found, hostAddresses()));
    },
    async *enumerate() {
      const addresses = hostAddresses();
      for (const l of snapshot().listeners) yield { selectors: listenerSelectors(l), body: reply(CONFIG.listener, listenerSetting(l, addresses)) };
    },
    ...writes,
  };

  return { apiVersion: PROVIDER_API_VERSION, name: 'config', documents: [...parts, listeners] };
}
