// Host facts several classes share, each behind a short cache: systeminformation shells out
// for most of them, and one Enumerate may ask for the same fact many times.

import type { Systeminformation } from 'systeminformation';
import { cached, known, STATIC_FACTS_MS } from './common.js';

type SystemInformation = typeof import('systeminformation');
let loading: Promise<SystemInformation> | undefined;
/**
 * systeminformation, loaded on the first request that needs a host fact rather than at start:
 * about 10 MB of resident memory an idle sidecar need not pay (issue 12).
 */
export function sysinfo(): Promise<SystemInformation> {
  // A CommonJS module: its exports arrive as the namespace's default.
  return (loading ??= import('systeminformation').then((m) => (m as unknown as { default: SystemInformation }).default));
}

export const osInfo = cached(STATIC_FACTS_MS, async () => (await sysinfo()).osInfo());
export const systemInfo = cached(STATIC_FACTS_MS, async () => (await sysinfo()).system());
export const cpuInfo = cached(STATIC_FACTS_MS, async () => (await sysinfo()).cpu());

/** "Debian GNU/Linux 12 (bookworm)": os-release's NAME and VERSION, and the codename. */
export function osCaption(i: Systeminformation.OsData): string {
  const base = [i.distro, i.release].filter((s) => known(s)).join(' ') || 'Linux';
  return i.codename && !base.includes(i.codename) ? `${base} (${i.codename})` : base;
}
