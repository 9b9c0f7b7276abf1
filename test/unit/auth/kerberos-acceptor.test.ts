// The AP-REQ checks that a real client cannot be made to fail on purpose, proved with real tokens:
// MIT's initiator (python3-gssapi) makes the AP-REQ, the acceptor judges it at a chosen time. An
// expired ticket (MIT's own client refuses to send one), clock skew, a replayed authenticator,
// a ticket the keytab's key does not open, a changed ticket.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KerberosAcceptor, KerberosRefused } from '../../../src/auth/kerberos/acceptor.js';
import { parseKeytab } from '../../../src/auth/kerberos/keytab.js';
import { gssUnframe, parseApReq } from '../../../src/auth/kerberos/messages.js';
import { REALM, SERVICE_HOST, startRealm, type TestRealm } from '../../helpers/kdc.js';

const INITIATE = `import base64, gssapi
flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.integrity
ctx = gssapi.SecurityContext(name=gssapi.Name('HTTP@${SERVICE_HOST}', gssapi.NameType.hostbased_service), usage='initiate',
                             mech=gssapi.OID.from_int_seq('1.2.840.113554.1.2.2'), flags=flags)
print(base64.b64encode(ctx.step()).decode())`;

let realm: TestRealm;
let env: NodeJS.ProcessEnv;
const token = () => Buffer.from(execFileSync('/usr/bin/python3', ['-c', INITIATE], { env, encoding: 'utf8' }).trim(), 'base64');
const acceptor = (now: number, keytab = 'winrmd.keytab') => new KerberosAcceptor({ keys: parseKeytab(readFileSync(path.join(realm.dir, keytab))), maxSkewMs: 300_000, now: () => now });

beforeAll(async () => {
  realm = await startRealm();
  realm.kadmin(`addprinc -randkey HTTP/${SERVICE_HOST}`);
  realm.addPrincipal('alice', 'alice-Krb-1');
  realm.keytab(path.join(realm.dir, 'winrmd.keytab'), [`HTTP/${SERVICE_HOST}`]);
  env = realm.kinit('alice', 'alice-Krb-1');
}, 60_000);
afterAll(() => realm?.stop());

describe('the AP-REQ, judged at a chosen time', () => {
  it('accepts a fresh one once: the client, its realm, an AP-REP and the context flags; the same again is a replay', () => {
    const t = token();
    const a = acceptor(Date.now());
    const ok = a.accept(t);
    expect(ok.client).toBe('alice');
    expect(ok.realm).toBe(REALM);
    expect(ok.apRep).toBeDefined();
    expect(gssUnframe(ok.apRep!).tokId).toBe(0x0200);
    expect(ok.gssFlags & 2).toBe(2); // mutual
    expect(() => a.accept(t)).toThrow('a replayed authenticator');
  });

  it('an expired ticket, and a clock beyond the skew either way', () => {
    const t = token();
    expect(() => acceptor(Date.now() + 11 * 3600_000).accept(t)).toThrow(/^an expired ticket/);
    expect(() => acceptor(Date.now() + 10 * 60_000).accept(token())).toThrow(/clock skew of \d+ s, beyond the 300 s allowed/);
    expect(() => acceptor(Date.now() - 10 * 60_000).accept(token())).toThrow(/not valid yet|clock skew/);
  });

  it('a ticket the keytab does not open (the service key changed since), and a changed byte', () => {
    const t = token();
    realm.keytab(path.join(realm.dir, 'rotated.keytab'), [`HTTP/${SERVICE_HOST}`]); // a new random key, kvno 2
    expect(() => acceptor(Date.now(), 'rotated.keytab').accept(t)).toThrow(/key version 2, which the keytab does not hold \(it has 3\)/);
    const changed = Buffer.from(t);
    const apReq = parseApReq(gssUnframe(t).message);
    const at = changed.indexOf(apReq.ticket.encPart.cipher.subarray(0, 8));
    changed[at + 20] ^= 1;
    expect(() => acceptor(Date.now()).accept(changed)).toThrow(KerberosRefused);
    expect(() => acceptor(Date.now()).accept(Buffer.from('60030601', 'hex'))).toThrow(/malformed Kerberos token/);
  });
});
