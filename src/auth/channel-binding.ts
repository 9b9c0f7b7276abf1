// TLS channel bindings of type tls-server-end-point (RFC 5929 §4): the hash of the server's
// certificate, with SHA-256 standing in for MD5 and SHA-1. NTLM carries the MD5 of a
// gss_channel_bindings_struct (RFC 2744 §3.11) around it in MsvAvChannelBindings.
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { md5 } from './ntlm/crypto.js';

/** One DER TLV at `at`: where its contents start and end (definite lengths only, as DER has). */
function tlv(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at];
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error('unsupported DER length');
    len = der.readUIntBE(start, n);
    start += n;
  }
  if (tag === undefined || start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

// Signature algorithm OIDs (DER contents) whose hash is not SHA-256 or weaker, and the hash OIDs
// RSASSA-PSS names in its parameters (RFC 4055).
const HASH_OF_SIGNATURE: Record<string, string> = {
  '2a864886f70d01010c': 'sha384', // sha384WithRSAEncryption
  '2a864886f70d01010d': 'sha512', // sha512WithRSAEncryption
  '2a8648ce3d040303': 'sha384', // ecdsa-with-SHA384
  '2a8648ce3d040304': 'sha512', // ecdsa-with-SHA512
};
const HASH_OID: Record<string, string> = { '608648016503040202': 'sha384', '608648016503040203': 'sha512' };
const RSASSA_PSS = '2a864886f70d01010a';

/** The hash of the certificate's own signatureAlgorithm (the field after tbsCertificate). */
function signatureHash(der: Buffer): string {
  const cert = tlv(der, 0);
  const tbs = tlv(der, cert.start);
  const algorithm = tlv(der, tbs.end);
  const oid = tlv(der, algorithm.start);
  const name = der.subarray(oid.start, oid.end).toString('hex');
  if (name !== RSASSA_PSS) return HASH_OF_SIGNATURE[name] ?? 'sha256';
  // RSASSA-PSS-params: SEQUENCE { [0] hashAlgorithm AlgorithmIdentifier, ... }; SHA-1 when absent.
  if (oid.end >= algorithm.end) return 'sha256';
  const params = tlv(der, oid.end);
  if (params.start >= params.end || der[params.start] !== 0xa0) return 'sha256';
  const hashAlgorithm = tlv(der, tlv(der, params.start).start);
  const hashOid = tlv(der, hashAlgorithm.start);
  return HASH_OID[der.subarray(hashOid.start, hashOid.end).toString('hex')] ?? 'sha256';
}

/** RFC 5929 §4.1: the certificate's signature hash, SHA-256 in place of MD5 and SHA-1. */
export function certificateHash(der: Buffer): Buffer {
  let hash = 'sha256';
  try {
    hash = signatureHash(der);
  } catch {
    // Not parseable as a certificate: SHA-256, the common case, rather than no bindings at all.
  }
  return createHash(hash).update(der).digest();
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
