// TLS channel bindings of type tls-server-end-point (RFC 5929 §4): the hash of the server's
// certificate, with SHA-256 standing in for MD5 and SHA-1. NTLM carries the MD5 of a
// gss_channel_bindings_struct (RFC 2744 §3.11) around it in MsvAvChannelBindings.
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { md5 } from './ntlm/crypto.js';

// DER-encoded signature algorithm OIDs that name a hash stronger than SHA-256.
const SHA384_OIDS = ['2a864886f70d01010c', '2a8648ce3d040303'].map((h) => Buffer.from(h, 'hex')); // sha384WithRSA, ecdsa-with-SHA384
const SHA512_OIDS = ['2a864886f70d01010d', '2a8648ce3d040304'].map((h) => Buffer.from(h, 'hex'));

export function certificateHash(der: Buffer): Buffer {
  const algorithm = SHA512_OIDS.some((o) => der.includes(o)) ? 'sha512' : SHA384_OIDS.some((o) => der.includes(o)) ? 'sha384' : 'sha256';
  return createHash(algorithm).update(der).digest();
}

/** MD5(gss_channel_bindings_struct) with empty addresses and `tls-server-end-point:<hash>` as application data. */
export function ntlmChannelBindings(certDer: Buffer): Buffer {
  const application = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), certificateHash(certDer)]);
  const header = Buffer.alloc(20); // initiator addrtype+length, acceptor addrtype+length: zero
  header.writeUInt32LE(application.length, 16);
  return md5(header, application);
}

/** The bindings of the TLS connection a request arrived on; undefined over plain HTTP. */
export function connectionBindings(socket: object): Buffer | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || typeof tls.getCertificate !== 'function') return undefined;
  const cert = tls.getCertificate();
  const raw = cert && 'raw' in cert ? (cert.raw as Buffer) : undefined;
  return raw ? ntlmChannelBindings(raw) : undefined;
}
