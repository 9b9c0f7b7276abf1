import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type CertPair, type TestPki } from '../../helpers/pki.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'winrmd-pki-'));
let pki: TestPki;
const x509 = (p: CertPair) => new X509Certificate(p.certPem);

beforeAll(() => {
  pki = makeTestPki(path.join(root, 'nested', 'pki')); // folder does not exist yet
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('makeTestPki', () => {
  // What keeps it quick (pki.ts): key generation is nearly all its cost, and P-256 keys take a
  // small fraction of the CPU RSA 2048 keys do. Checked as that, not as a duration.
  it('is quick: every key it generates is P-256 EC, none RSA', () => {
    // Every key file it wrote, the rogue CA's included, not only those it returns.
    const keys = readdirSync(pki.dir).filter((f) => f.endsWith('.key'));
    const pairs = Object.values(pki).filter((v): v is CertPair => typeof v === 'object');
    expect(keys).toEqual(expect.arrayContaining(pairs.map((p) => path.basename(p.key))));
    for (const name of keys) {
      const key = createPrivateKey(readFileSync(path.join(pki.dir, name)));
      expect({ name, type: key.asymmetricKeyType, curve: key.asymmetricKeyDetails?.namedCurve }).toEqual({ name, type: 'ec', curve: 'prime256v1' });
    }
  });

  it('issues every leaf from the right CA, with the right names and usages', () => {
    const ca = x509(pki.ca);
    expect(ca.subject).toBe('CN=winrmd test CA');
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true); // self-signed
    const fromCa = [pki.server, pki.client, pki.clientUpnOnly, pki.unmapped, pki.expired];
    for (const p of fromCa) {
      const c = x509(p);
      expect(c.ca).toBe(false);
      expect(c.checkIssued(ca)).toBe(true);
      expect(c.verify(ca.publicKey)).toBe(true);
      expect(p.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(c.checkPrivateKey(createPrivateKey(p.keyPem))).toBe(true);
    }
    const untrusted = x509(pki.untrusted);
    expect(untrusted.checkIssued(ca)).toBe(false);
    expect(untrusted.verify(ca.publicKey)).toBe(false);
    expect(untrusted.issuer).not.toBe(ca.subject);

    expect(x509(pki.server).subject).toBe('CN=localhost');
    expect(x509(pki.server).subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(x509(pki.server).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth (Node's keyUsage is the EKU)
    // The format pki.ts documents for the server's parser:
    expect(x509(pki.client).subject).toBe('CN=alice');
    expect(x509(pki.client).subjectAltName).toBe('othername:UPN:alice@winrmd.test, email:alice@winrmd.test');
    expect(x509(pki.clientUpnOnly).subject).toBe('CN=Bob Smith');
    expect(x509(pki.clientUpnOnly).subjectAltName).toBe('othername:UPN:bob@winrmd.test');
    expect(x509(pki.unmapped).subjectAltName).toBe('othername:UPN:mallory@winrmd.test');
    expect(x509(pki.expired).subjectAltName).toBe(x509(pki.client).subjectAltName);
    expect(x509(pki.untrusted).subjectAltName).toBe(x509(pki.client).subjectAltName);
    for (const p of [pki.client, pki.clientUpnOnly, pki.unmapped, pki.expired, pki.untrusted]) {
      expect(x509(p).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth
    }
  });

  it('dates: only `expired` is out of its validity period', () => {
    const now = Date.now();
    for (const [name, p] of Object.entries(pki).filter(([, v]) => typeof v === 'object') as [string, CertPair][]) {
      const c = x509(p);
      const valid = Date.parse(c.validFrom) <= now && now < Date.parse(c.validTo);
      expect(valid, name).toBe(name !== 'expired');
    }
    expect(Date.parse(x509(pki.expired).validFrom)).toBeLessThan(now);
  });

  it('thumbprint is the CA’s SHA-1 fingerprint, bare lowercase hex', () => {
    expect(pki.caThumbprint).toMatch(/^[0-9a-f]{40}$/);
    expect(pki.caThumbprint).toBe(x509(pki.ca).fingerprint.replaceAll(':', '').toLowerCase());
  });

  it('can be called again on the same folder', () => {
    const again = makeTestPki(pki.dir);
    expect(again.dir).toBe(pki.dir);
    expect(x509(again.expired).checkIssued(x509(again.ca))).toBe(true);
  });
});

describe('live TLS with the test PKI', () => {
  type Seen = { authorized: boolean; error: string | null; san?: string };
  let server: https.Server;
  let port = 0;

  beforeAll(async () => {
    // Like winrmd: ask for a client cert but let the app decide, so bad certs still reach it.
    server = https.createServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, ca: [pki.ca.certPem], requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const s = req.socket as TLSSocket;
        const seen: Seen = { authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : null, san: s.getPeerCertificate().subjectaltname };
        res.end(JSON.stringify(seen));
      },
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  // agent: false → a fresh TLS handshake per request (no session reuse across certs).
  const call = (p: CertPair) =>
    new Promise<Seen>((ok, fail) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', agent: false, cert: p.certPem, key: p.keyPem, ca: [pki.ca.certPem] }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c)).on('end', () => ok(JSON.parse(body) as Seen));
        })
        .on('error', fail);
    });

  it('a client cert from the CA is authorized (and the client trusts the server for 127.0.0.1)', async () => {
    expect(await call(pki.client)).toEqual({ authorized: true, error: null, san: 'othername:UPN:alice@winrmd.test, email:alice@winrmd.test' });
  });

  it('expired and foreign-CA certs reach the app unauthorized, with OpenSSL’s reason', async () => {
    expect(await call(pki.expired)).toMatchObject({ authorized: false, error: 'CERT_HAS_EXPIRED' });
    expect(await call(pki.untrusted)).toMatchObject({ authorized: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});
