// winrmd's settings in the shape of Windows' winrm/config: a pure mapping from a plain snapshot of
// the settings (server.ts fills it from winrmd's configuration) to the settings tree that a Get of
// `…/wsman/1/config` or of one of its parts answers with (MS-WSMV 2.2.4.10 ConfigType and the
// types under it, elements in schema order). Where winrmd has no equivalent of a Windows setting
// the element is left out (RootSDDL, the compatibility listeners); where it imposes no limit of
// its own the limit reads 4294967295 (2147483647 for the WinRS ones), as Windows writes the
// limits it no longer enforces (MaxProviderRequests, MaxConcurrentOperations, MaxShellRunTime).

/** One setting: its element name and its text, or the settings under it, in schema order. */
export type Setting = [name: string, value: string | Setting[]];

/** What the tree is made from: winrmd's own settings, in its own units. */
export interface ConfigSnapshot {
  limits: {
    maxEnvelopeSizeKb: number;
    maxTimeoutMs: number;
    maxConcurrentOperationsPerUser: number;
    enumerationTimeoutMs: number;
    maxConnections: number;
    /** The whole HTTP request must arrive within it (Node's requestTimeout). */
    requestTimeoutMs: number;
  };
  service: {
    allowUnencrypted: boolean;
    auth: {
      basic: boolean;
      /** NTLM under Negotiate; winrmd has no Kerberos yet. */
      negotiate: boolean;
      certificate: boolean;
      cbtHardeningLevel: 'none' | 'relaxed' | 'strict';
    };
  };
  /** The WinRS remote shell's quotas. */
  shell: {
    enabled: boolean;
    idleTimeoutMs: number;
    maxConcurrentUsers: number;
    maxProcessesPerShell: number;
    maxMemoryPerShellMb: number;
    maxShellsPerUser: number;
  };
  listeners: ListenerSnapshot[];
}

export interface ListenerSnapshot {
  transport: 'HTTP' | 'HTTPS';
  enabled: boolean;
  /** The address bound; 0.0.0.0 (every IPv4 address) or :: (every address) for all. */
  host: string;
  port: number;
  /** As Windows: empty for HTTP, the host name the certificate is for on HTTPS. */
  hostname: string;
  /** The server certificate's SHA-1 thumbprint (40 hex digits), when known. */
  certificateThumbprint?: string;
}

const UNLIMITED = '4294967295'; // xs:unsignedInt's largest
const UNLIMITED_WINRS = '2147483647'; // 0x7FFFFFFF, the largest a WinRS quota takes (2.2.4.42)
const DEFAULT_PORTS = { HTTP: 5985, HTTPS: 5986 }; // 2.2.4.5, 2.2.4.35

const text = (v: number | boolean | string): string => String(v);

/** The whole tree, `cfg:Config` (2.2.4.10). Listeners are not part of it: they are enumerated. */
export function configTree(s: ConfigSnapshot): Setting {
  const { limits: l, service, shell } = s;
  const { auth } = service;
  const portOf = (t: 'HTTP' | 'HTTPS') => s.listeners.find((x) => x.transport === t)?.port ?? DEFAULT_PORTS[t];
  return ['Config', [
    ['MaxEnvelopeSizekb', text(l.maxEnvelopeSizeKb)],
    ['MaxTimeoutms', text(l.maxTimeoutMs)],
    // An enumeration page is bounded by MaxEnvelopeSize, not by an item count.
    ['MaxBatchItems', UNLIMITED],
    ['MaxProviderRequests', UNLIMITED],
    // 2.2.4.6: winrmd has no WinRM client of its own; the section holds the schema's defaults,
    // as on a Windows host whose client was never configured.
    ['Client', [
      ['NetworkDelayms', '5000'],
      ['URLPrefix', 'wsman'],
      ['AllowUnencrypted', 'false'],
      ['Auth', [['Basic', 'true'], ['Digest', 'true'], ['Kerberos', 'true'], ['Negotiate', 'true'], ['Certificate', 'true'], ['CredSSP', 'false']]],
      ['DefaultPorts', [['HTTP', text(DEFAULT_PORTS.HTTP)], ['HTTPS', text(DEFAULT_PORTS.HTTPS)]]],
      ['TrustedHosts', ''],
    ]],
    // 2.2.4.36 ServiceType.
    ['Service', [
      ['MaxConcurrentOperations', UNLIMITED],
      ['MaxConcurrentOperationsPerUser', text(l.maxConcurrentOperationsPerUser)],
      ['EnumerationTimeoutms', text(l.enumerationTimeoutMs)],
      ['MaxConnections', text(l.maxConnections)],
      ['MaxPacketRetrievalTimeSeconds', text(Math.ceil(l.requestTimeoutMs / 1000))],
      ['AllowUnencrypted', text(service.allowUnencrypted)],
      // 2.2.4.34 ServiceAuthType; 3.1.4.1.29.2: these are exactly the profiles Identify offers.
      ['Auth', [
        ['Basic', text(auth.basic)],
        ['Kerberos', 'false'],
        ['Negotiate', text(auth.negotiate)],
        ['Certificate', text(auth.certificate)],
        ['CredSSP', 'false'],
        ['CbtHardeningLevel', auth.cbtHardeningLevel[0].toUpperCase() + auth.cbtHardeningLevel.slice(1)],
      ]],
      // 2.2.4.35: the ports winrmd's listeners use.
      ['DefaultPorts', [['HTTP', text(portOf('HTTP'))], ['HTTPS', text(portOf('HTTPS'))]]],
      // Listeners bind the configured address; no further filter applies.
      ['IPv4Filter', '*'],
      ['IPv6Filter', '*'],
    ]],
    // 2.2.4.42 WinrsType.
    ['Winrs', [
      ['AllowRemoteShellAccess', text(shell.enabled)],
      ['IdleTimeout', text(shell.idleTimeoutMs)],
      ['MaxConcurrentUsers', text(shell.maxConcurrentUsers)],
      ['MaxShellRunTime', UNLIMITED_WINRS], // a shell lives until deleted or idle
      ['MaxProcessesPerShell', text(shell.maxProcessesPerShell)],
      ['MaxMemoryPerShellMB', text(shell.maxMemoryPerShellMb)],
      ['MaxShellsPerUser', text(shell.maxShellsPerUser)],
    ]],
  ]];
}

/** The setting at a path of element names under the tree (['Service', 'Auth']). */
export function settingAt(tree: Setting, path: readonly string[]): Setting | undefined {
  let at: Setting | undefined = tree;
  for (const name of path) at = typeof at?.[1] === 'string' ? undefined : at?.[1].find(([n]) => n === name);
  return at;
}

/** ListenerType's Address (2.2.4.19): `*` for every address, else `IP:` and the address. */
export function listenerAddress(l: ListenerSnapshot): string {
  return l.host === '' || l.host === '0.0.0.0' || l.host === '::' ? '*' : `IP:${l.host}`;
}

/** A listener's selectors (3.1.4.1.29.5): Address and Transport. */
export function listenerSelectors(l: ListenerSnapshot): { Address: string; Transport: string } {
  return { Address: listenerAddress(l), Transport: l.transport };
}

/**
 * One `cfg:Listener` (2.2.4.19). ListeningOn is derived from the address bound and the host's
 * addresses (IPv4 ones for 0.0.0.0, all for ::); a disabled listener listens on none.
 */
export function listenerSetting(l: ListenerSnapshot, hostAddresses: readonly string[]): Setting {
  const all = l.host === '' || l.host === '::' ? hostAddresses : l.host === '0.0.0.0' ? hostAddresses.filter((a) => !a.includes(':')) : [l.host];
  return ['Listener', [
    ['Address', listenerAddress(l)],
    ['Transport', l.transport],
    ['Port', text(l.port)],
    ['Hostname', l.hostname],
    ['Enabled', text(l.enabled)],
    ['URLPrefix', 'wsman'],
    ['CertificateThumbprint', l.certificateThumbprint ?? ''],
    ...(l.enabled ? all : []).map((a): Setting => ['ListeningOn', a]),
  ]];
}
