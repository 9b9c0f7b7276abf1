// winrmd's settings → Windows' winrm/config tree (providers/config/tree.ts, MS-WSMV 2.2.4.10 and
// the types under it), and the provider's Get, enumeration and refusals without an envelope.
import { describe, expect, it } from 'vitest';
import { createConfigProvider, type ConfigSnapshot } from '../../../../providers/config/index.js';
import { configTree, listenerSetting, settingAt, type ListenerSnapshot, type Setting } from '../../../../providers/config/tree.js';
import { ProviderError, type DocumentRequest, type Element } from '../../../../src/provider-api.js';
import { CONFIG } from '../../../../src/soap/names.js';

const HTTP: ListenerSnapshot = { transport: 'HTTP', enabled: true, host: '0.0.0.0', port: 5985, hostname: '' };
const HTTPS: ListenerSnapshot = { transport: 'HTTPS', enabled: true, host: '192.0.2.7', port: 15986, hostname: 'host.example', certificateThumbprint: 'AB'.repeat(20) };

const SNAPSHOT: ConfigSnapshot = {
  limits: { maxEnvelopeSizeKb: 512, maxTimeoutMs: 61_000, maxConcurrentOperationsPerUser: 77, enumerationTimeoutMs: 42_000, maxConnections: 12, requestTimeoutMs: 179_500 },
  service: { allowUnencrypted: false, auth: { basic: true, negotiate: false, certificate: true, cbtHardeningLevel: 'strict' } },
  shell: { enabled: true, idleTimeoutMs: 90_000, maxConcurrentUsers: 3, maxProcessesPerShell: 4, maxMemoryPerShellMb: 256, maxShellsPerUser: 5 },
  listeners: [HTTP, HTTPS],
};

/** A setting's children as name → text, for the leaves. */
function leaves(s: Setting | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of (s?.[1] ?? []) as Setting[]) if (typeof value === 'string') out[name] = value;
  return out;
}

const names = (s: Setting | undefined) => ((s?.[1] ?? []) as Setting[]).map(([n]) => n);

describe('configTree', () => {
  const tree = configTree(SNAPSHOT);

  it('is cfg:Config with the top-level limits and Client, Service, Winrs in schema order (2.2.4.10)', () => {
    expect(tree[0]).toBe('Config');
    expect(names(tree)).toEqual(['MaxEnvelopeSizekb', 'MaxTimeoutms', 'MaxBatchItems', 'MaxProviderRequests', 'Client', 'Service', 'Winrs']);
    expect(leaves(tree)).toEqual({ MaxEnvelopeSizekb: '512', MaxTimeoutms: '61000', MaxBatchItems: '4294967295', MaxProviderRequests: '4294967295' });
  });

  it('Service carries the limits, AllowUnencrypted, Auth and DefaultPorts; no RootSDDL (2.2.4.36)', () => {
    const service = settingAt(tree, ['Service']);
    expect(names(service)).toEqual(['MaxConcurrentOperations', 'MaxConcurrentOperationsPerUser', 'EnumerationTimeoutms', 'MaxConnections', 'MaxPacketRetrievalTimeSeconds', 'AllowUnencrypted', 'Auth', 'DefaultPorts', 'IPv4Filter', 'IPv6Filter']);
    expect(leaves(service)).toMatchObject({ MaxConcurrentOperationsPerUser: '77', EnumerationTimeoutms: '42000', MaxConnections: '12', MaxPacketRetrievalTimeSeconds: '180', AllowUnencrypted: 'false' });
  });

  it('Service/Auth: Kerberos and CredSSP false, CbtHardeningLevel capitalised as Windows writes it (2.2.4.34)', () => {
    expect(leaves(settingAt(tree, ['Service', 'Auth']))).toEqual({ Basic: 'true', Kerberos: 'false', Negotiate: 'false', Certificate: 'true', CredSSP: 'false', CbtHardeningLevel: 'Strict' });
    const relaxed = configTree({ ...SNAPSHOT, service: { ...SNAPSHOT.service, auth: { ...SNAPSHOT.service.auth, cbtHardeningLevel: 'none' } } });
    expect(leaves(settingAt(relaxed, ['Service', 'Auth'])).CbtHardeningLevel).toBe('None');
  });

  it('Service/DefaultPorts are the listeners\' ports; 5985/5986 where a transport has none (2.2.4.35)', () => {
    expect(leaves(settingAt(tree, ['Service', 'DefaultPorts']))).toEqual({ HTTP: '5985', HTTPS: '15986' });
    expect(leaves(settingAt(configTree({ ...SNAPSHOT, listeners: [] }), ['Service', 'DefaultPorts']))).toEqual({ HTTP: '5985', HTTPS: '5986' });
  });

  it('Winrs carries the shell quotas (2.2.4.42)', () => {
    expect(leaves(settingAt(tree, ['Winrs']))).toEqual({
      AllowRemoteShellAccess: 'true', IdleTimeout: '90000', MaxConcurrentUsers: '3', MaxShellRunTime: '2147483647',
      MaxProcessesPerShell: '4', MaxMemoryPerShellMB: '256', MaxShellsPerUser: '5',
    });
    expect(leaves(settingAt(configTree({ ...SNAPSHOT, shell: { ...SNAPSHOT.shell, enabled: false } }), ['Winrs'])).AllowRemoteShellAccess).toBe('false');
  });

  it('Client holds the schema defaults (2.2.4.6)', () => {
    expect(leaves(settingAt(tree, ['Client']))).toEqual({ NetworkDelayms: '5000', URLPrefix: 'wsman', AllowUnencrypted: 'false', TrustedHosts: '' });
    expect(leaves(settingAt(tree, ['Client', 'DefaultPorts']))).toEqual({ HTTP: '5985', HTTPS: '5986' });
  });

  it('settingAt misses quietly', () => {
    expect(settingAt(tree, ['Service', 'Nothing'])).toBeUndefined();
    expect(settingAt(tree, ['MaxTimeoutms', 'Deeper'])).toBeUndefined();
  });
});

describe('listenerSetting (2.2.4.19)', () => {
  const addresses = ['127.0.0.1', '192.0.2.7', '::1', 'fe80::1'];

  it('0.0.0.0 is Address *, listening on every IPv4 address', () => {
    const l = listenerSetting(HTTP, addresses);
    expect(names(l)).toEqual(['Address', 'Transport', 'Port', 'Hostname', 'Enabled', 'URLPrefix', 'CertificateThumbprint', 'ListeningOn', 'ListeningOn']);
    expect(leaves(l)).toMatchObject({ Address: '*', Transport: 'HTTP', Port: '5985', Hostname: '', Enabled: 'true', URLPrefix: 'wsman', CertificateThumbprint: '' });
    expect((l[1] as Setting[]).filter(([n]) => n === 'ListeningOn').map(([, v]) => v)).toEqual(['127.0.0.1', '192.0.2.7']);
  });

  it(':: listens on every address; one address is IP:<address>', () => {
    expect((listenerSetting({ ...HTTP, host: '::' }, addresses)[1] as Setting[]).filter(([n]) => n === 'ListeningOn')).toHaveLength(4);
    const l = listenerSetting(HTTPS, addresses);
    expect(leaves(l)).toMatchObject({ Address: 'IP:192.0.2.7', Hostname: 'host.example', CertificateThumbprint: 'AB'.repeat(20), ListeningOn: '192.0.2.7' });
  });

  it('a disabled listener listens on nothing', () => {
    const l = listenerSetting({ ...HTTP, enabled: false }, addresses);
    expect(leaves(l).Enabled).toBe('false');
    expect(names(l)).not.toContain('ListeningOn');
  });
});

describe('createConfigProvider', () => {
  const provider = createConfigProvider(SNAPSHOT);
  const doc = (uri: string) => provider.documents!.find((d) => d.uri === uri)!;
  const req = (selectors: Record<string, string> = {}) => ({ selectors } as unknown as DocumentRequest);
  const texts = (e: Element) => Object.fromEntries(e.children.filter((c) => c.children.length === 0).map((c) => [c.name, c.text]));

  it('serves the tree and each part, every element in the part\'s own namespace (3.1.4.2)', async () => {
    expect(provider.documents!.map((d) => d.uri)).toEqual([
      CONFIG.root, CONFIG.client, CONFIG.clientAuth, CONFIG.clientDefaultPorts, CONFIG.service, CONFIG.serviceAuth, CONFIG.serviceDefaultPorts, CONFIG.winrs, CONFIG.listener,
    ]);
    const all = await doc(CONFIG.root).get!(req());
    expect([all.ns, all.name, all.attrs['xml:lang']]).toEqual([CONFIG.root, 'Config', 'en-US']);
    expect(all.children.find((c) => c.name === 'Service')!.ns).toBe(CONFIG.root);
    const auth = await doc(CONFIG.serviceAuth).get!(req());
    expect([auth.ns, auth.name, texts(auth).CbtHardeningLevel]).toEqual([CONFIG.serviceAuth, 'Auth', 'Strict']);
    const service = await doc(CONFIG.service).get!(req());
    expect(service.children.find((c) => c.name === 'Auth')!.children.every((c) => c.ns === CONFIG.service)).toBe(true);
  });

  it('reads a snapshot function on every request', async () => {
    let kb = 100;
    const live = createConfigProvider(() => ({ ...SNAPSHOT, limits: { ...SNAPSHOT.limits, maxEnvelopeSizeKb: kb } }));
    const get = () => live.documents![0].get!(req()).then(texts);
    expect((await get()).MaxEnvelopeSizekb).toBe('100');
    kb = 200;
    expect((await get()).MaxEnvelopeSizekb).toBe('200');
  });

  it('a single part refuses selectors', async () => {
    await expect(doc(CONFIG.winrs).get!(req({ Name: 'x' }))).rejects.toMatchObject({ code: 'INVALID_SELECTORS' });
  });

  it('gets a listener by Address and Transport, names and values without regard to case (3.1.4.1.29.5)', async () => {
    const l = await doc(CONFIG.listener).get!(req({ address: 'ip:192.0.2.7', TRANSPORT: 'https' }));
    expect([l.ns, l.name, texts(l).Port]).toEqual([CONFIG.listener, 'Listener', '15986']);
    await expect(doc(CONFIG.listener).get!(req({ Address: '*' }))).rejects.toMatchObject({ code: 'INVALID_SELECTORS' });
    await expect(doc(CONFIG.listener).get!(req({ Address: '*', Transport: 'HTTPS' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('enumerates the listeners with their selectors', async () => {
    const items = [];
    for await (const item of doc(CONFIG.listener).enumerate!(req())) items.push(item);
    expect(items.map((i) => i.selectors)).toEqual([{ Address: '*', Transport: 'HTTP' }, { Address: 'IP:192.0.2.7', Transport: 'HTTPS' }]);
    expect(items.every((i) => i.body.name === 'Listener' && i.body.ns === CONFIG.listener)).toBe(true);
  });

  it('refuses Put, Create and Delete on every part with ACCESS_DENIED', async () => {
    for (const d of provider.documents!) {
      for (const op of [d.put, d.create, d.delete]) {
        const err = await op!(req()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProviderError);
        expect(err).toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringMatching(/read-only until roles exist/) });
      }
    }
  });
});
