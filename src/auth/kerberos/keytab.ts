// MIT keytab files (the format `ktutil`, `kadmin ktadd` and Windows' `ktpass` write): the service
// keys winrmd decrypts tickets with. Versions 0x0501 and 0x0502, big-endian; a negative record
// size is a hole left by a deleted entry.
import { readFileSync } from 'node:fs';
import { ENCTYPE, ENCTYPE_NAMES } from './crypto.js';

export interface KeytabEntry {
  /** `HTTP/host.example.com` (components joined by /). */
  principal: string;
  realm: string;
  nameType: number;
  timestamp: Date;
  kvno: number;
  enctype: number;
  key: Buffer;
}

export class KeytabError extends Error {}

export function parseKeytab(data: Buffer): KeytabEntry[] {
  if (data.length < 2 || data[0] !== 0x05 || (data[1] !== 0x01 && data[1] !== 0x02)) throw new KeytabError('not a keytab (it starts with neither 0x0501 nor 0x0502)');
  const v1 = data[1] === 0x01;
  const entries: KeytabEntry[] = [];
  let at = 2;
  const need = (n: number, end: number) => {
    if (at + n > end) throw new KeytabError(`the keytab is cut short at byte ${at}`);
  };
  while (at < data.length) {
    need(4, data.length);
    const size = data.readInt32BE(at);
    at += 4;
    if (size < 0) {
      at += -size; // a hole
      continue;
    }
    if (size === 0) break;
    const end = at + size;
    if (end > data.length) throw new KeytabError(`an entry runs past the end of the keytab at byte ${at}`);
    const u16 = () => {
      need(2, end);
      const v = data.readUInt16BE(at);
      at += 2;
      return v;
    };
    const u32 = () => {
      need(4, end);
      const v = data.readUInt32BE(at);
      at += 4;
      return v;
    };
    const octets = () => {
      const n = u16();
      need(n, end);
      const v = data.subarray(at, at + n);
      at += n;
      return v;
    };
    let components = u16();
    if (v1) components--; // 0x0501 counts the realm among the components
    const realm = octets().toString('utf8');
    const names: string[] = [];
    for (let i = 0; i < components; i++) names.push(octets().toString('utf8'));
    const nameType = v1 ? 1 : u32();
    const timestamp = new Date(u32() * 1000);
    need(1, end);
    let kvno = data[at++]!;
    const enctype = u16();
    const key = Buffer.from(octets());
    // A 32-bit kvno follows when the record has room for it (kvno over 255).
    if (end - at >= 4) {
      const wide = data.readUInt32BE(at);
      if (wide !== 0) kvno = wide;
    }
    at = end;
    entries.push({ principal: names.join('/'), realm, nameType, timestamp, kvno, enctype, key });
  }
  return entries;
}

/** `HTTP/host@REALM kvno 3 aes256-cts-hmac-sha1-96`, one per entry: what `winrmd kerberos check` prints. */
export function describeKeytab(entries: KeytabEntry[]): string[] {
  return entries.map((e) => `${e.principal}@${e.realm}\tkvno ${e.kvno}\t${ENCTYPE_NAMES[e.enctype] ?? `enctype ${e.enctype}`}`);
}

/**
 * The keytab, from its file or from the environment variable that holds it in base64, or a start
 * that says why not (it holds secrets: its file's mode is the operator's to keep).
 */
export function loadKeytab(k: { keytab: string; keytabEnv: string }, env: NodeJS.ProcessEnv = process.env) {
  const where = k.keytabEnv ? `kerberos.keytabEnv ${k.keytabEnv}` : `kerberos.keytab ${k.keytab}`;
  let keys;
  try {
    let bytes: Buffer;
    if (k.keytabEnv) {
      const value = env[k.keytabEnv];
      if (!value) throw new Error('the variable is not set');
      bytes = Buffer.from(value, 'base64');
    } else bytes = readFileSync(k.keytab);
    keys = parseKeytab(bytes);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  if (!keys.some((e) => e.enctype === ENCTYPE.aes256 || e.enctype === ENCTYPE.aes128)) throw new Error(`${where} holds no AES key (winrmd kerberos check lists it)`);
  return keys;
}
