// Host facts several classes share, each behind a short cache: systeminformation shells out
// for most of them, and one Enumerate may ask for the same fact many times.

import si, { type Systeminformation } from 'systeminformation';
import { cached, known, STATIC_FACTS_MS } from './common.js';

export const osInfo = cached(STATIC_FACTS_MS, () => si.osInfo());
export const systemInfo = cached(STATIC_FACTS_MS, () => si.system());
export const cpuInfo = cached(STATIC_FACTS_MS, () => si.cpu());

/** "Debian GNU/Linux 12 (bookworm)": os-release's NAME and VERSION, and the codename. */
export function osCaption(i: Systeminformation.OsData): string {
  const base = [i.distro, i.release].filter((s) => known(s)).join(' ') || 'Linux';
  return i.codename && !base.includes(i.codename) ? `${base} (${i.codename})` : base;
}
