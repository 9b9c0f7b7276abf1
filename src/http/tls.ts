// The HTTPS certificate: the configured PEM pair, or a self-signed one generated into the state
// folder on first start (certs/README.md says how to bring your own).
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { keepPrivate } from '../store/private-files.js';
import type { PeerCertificate } from '../wsman/exchange.js';

export interface PemPair {
  cert: string;
  key: string;
  generated: boolean;
}

export async function loadOrCreateCertificate(certFile: string, keyFile: string, stateDir: string): Promise<PemPair> {
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error('listeners.https needs both certFile and keyFile, or neither');
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), generated: false };
  }
  const cert = path.join(stateDir, 'https-cert.pem');
  const key = path.join(stateDir, 'https-key.pem');
  keepPrivate(stateDir, existsSync(key) ? [key] : []);
  if (existsSync(cert) && existsSync(key)) return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), generated: false };
  const pair = await generateSelfSigned(os.hostname());
  writePemPair(cert, key, pair);
  return { ...pair, generated: true };
}

/** The key private to winrmd's user, its folder too; the certificate readable. */
export function writePemPair(certFile: string, keyFile: string, pair: { cert: string; key: string }): void {
  mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pair.key, { mode: 0o600 });
  writeFileSync(certFile, pair.cert, { mode: 0o644 });
}

/** A self-signed server certificate for `host`, with localhost names so local clients verify it. */
/** A self-signed certificate for `host`, valid two years from now unless `validity` says otherwise (the lab's expired one). */
export async function generateSelfSigned(host: string, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<{ cert: string; key: string }> {
  const notAfter = validity.notAfter ?? new Date();
  if (!validity.notAfter) notAfter.setFullYear(notAfter.getFullYear() + 2);
  // Loaded only to generate: node-forge costs megabytes a running server never needs.
  const { default: selfsigned } = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: host }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    ...(validity.notBefore ? { notBeforeDate: validity.notBefore } : {}),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: host }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A certificate's SHA-1 thumbprint as Windows shows it (40 hex digits, upper case), from Node's fingerprint. */
export const thumbprint = (fingerprint: string): string => fingerprint.replace(/:/g, '').toUpperCase();

/** The thumbprint of a PEM certificate. */
export const thumbprintOf = (pem: string): string => thumbprint(new X509Certificate(pem).fingerprint);

/** The CAs trusted for client certificates: every certificate in the given PEM files. */
export function loadCaFiles(files: string[]): { pems: string[]; certs: X509Certificate[] } {
  if (files.length === 0) throw new Error('certificate authentication needs listeners.https.clientCaFiles (the CAs that issue client certificates)');
  const pems = files.flatMap((f) => readFileSync(f, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []);
  if (pems.length === 0) throw new Error(`no certificate found in ${files.join(', ')}`);
  return { pems, certs: pems.map((p) => new X509Certificate(p)) };
}

/**
 * The client certificate of a TLS connection as the core reads it (subject, issuer, SHA-1
 * thumbprints in Windows' upper-case hex), or undefined when none was presented.
 */
export function peerCertificateOf(socket: TLSSocket): PeerCertificate | undefined {
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.raw) return undefined;
  const dn = (o: Record<string, string | string[]> | undefined) => Object.entries(o ?? {}).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(', ');
  const issuer = peer.issuerCertificate;
  return {
    subject: dn(peer.subject as unknown as Record<string, string>),
    issuer: dn(peer.issuer as unknown as Record<string, string>),
    thumbprint: thumbprint(peer.fingerprint),
    // A self-issued certificate is its own issuer; Node then links issuerCertificate to itself.
    issuerThumbprint: issuer && issuer.raw ? thumbprint(issuer.fingerprint) : undefined,
  };
}
