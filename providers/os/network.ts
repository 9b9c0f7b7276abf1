// Win32_NetworkAdapterConfiguration (superclass CIM_Setting, as in WMI): the TCP/IP settings
// of each network interface (learn.microsoft.com, "Win32_NetworkAdapterConfiguration class").

import { readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sysinfo } from './host.js';
import {
  CIM_Setting,
  cached,
  defineClass,
  hostname,
  known,
  abstractClass,
  BOOL,
  STRING,
  STRINGS,
  UINT32,
  type ClassImpl,
  type Values,
} from './common.js';

export const Win32_NetworkAdapterConfiguration = defineClass({
  name: 'Win32_NetworkAdapterConfiguration',
  parent: CIM_Setting,
  keys: ['Index'],
  properties: {
    DefaultIPGateway: STRINGS,
    DHCPEnabled: BOOL,
    DNSDomain: STRING,
    DNSHostName: STRING,
    Index: UINT32,
    InterfaceIndex: UINT32,
    IPAddress: STRINGS,
    IPEnabled: BOOL,
    IPSubnet: STRINGS,
    MACAddress: STRING,
    MTU: UINT32,
    ServiceName: STRING,
  },
});

const interfaces = cached(2000, async () => (await sysinfo()).networkInterfaces());
const defaultGateway = cached(2000, async () => (await sysinfo()).networkGatewayDefault());

/** The kernel's interface index, which is also what Windows' InterfaceIndex is. */
async function ifindex(iface: string): Promise<number | null> {
  const text = await readFile(`/sys/class/net/${iface}/ifindex`, 'utf8').catch(() => null);
  return text === null ? null : Number(text.trim());
}

/** The driver bound to the interface: Windows' ServiceName is the adapter's driver service. */
async function driver(iface: string): Promise<string | null> {
  const link = await readlink(`/sys/class/net/${iface}/device/driver`).catch(() => null);
  return link ? path.basename(link) : null;
}

async function listConfigurations(): Promise<Values[]> {
  const [list, gateway] = await Promise.all([interfaces(), defaultGateway()]);
  // systeminformation keeps only the first address of each family; os.networkInterfaces() has
  // them all.
  const addresses = os.networkInterfaces();
  const host = hostname();
  const rows = await Promise.all(
    // Windows has no loopback adapter in this class; clients that take the first IPEnabled
    // adapter would otherwise pick 127.0.0.1.
    (Array.isArray(list) ? list : [list])
      .filter((n) => !n.internal)
      .map(async (n): Promise<Values | null> => {
        const index = await ifindex(n.iface);
        if (index === null) return null;
        const addrs = addresses[n.iface] ?? [];
        // IPv4 first, then IPv6, as Windows lists them; an IPv6 subnet is its prefix length.
        const ordered = [...addrs.filter((a) => a.family === 'IPv4'), ...addrs.filter((a) => a.family === 'IPv6')];
        const mac = known(n.mac);
        const description = n.ifaceName || n.iface;
        return {
          Caption: `[${String(index).padStart(8, '0')}] ${description}`,
          DefaultIPGateway: n.default && known(gateway) ? [gateway] : null,
          Description: description,
          DHCPEnabled: n.dhcp,
          DNSDomain: known(n.dnsSuffix),
          DNSHostName: host,
          Index: index,
          InterfaceIndex: index,
          IPAddress: ordered.length ? ordered.map((a) => a.address) : null,
          IPEnabled: ordered.length > 0,
          IPSubnet: ordered.length
            ? ordered.map((a) => (a.family === 'IPv4' ? a.netmask : (a.cidr?.split('/')[1] ?? '')))
            : null,
          // Windows writes the MAC upper case with colons; an all-zero one is no MAC.
          MACAddress: mac && !/^(00:){5}00$/.test(mac) ? mac.toUpperCase() : null,
          MTU: n.mtu,
          ServiceName: await driver(n.iface),
          SettingID: n.iface,
        };
      }),
  );
  return rows.filter((r): r is Values => r !== null);
}

export const networkClasses: ClassImpl[] = [
  abstractClass(CIM_Setting),
  { cls: Win32_NetworkAdapterConfiguration, list: listConfigurations },
];
