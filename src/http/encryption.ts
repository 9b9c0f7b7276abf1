// HTTP message encryption (MS-WSMV 2.2.9.1.1, 2.2.9.1.2): a SOAP message sealed by the
// connection's security context travels as a two-part multipart/encrypted body. The framing is
// the same for every context; the sealing is the MessageSecurity's, and the protocol string is the
// client's: SPNEGO's for Negotiate, Kerberos's for the Kerberos scheme and pywinrm's Kerberos
// transport. A reply is sealed under the protocol its request came in.
import type { MessageSecurity } from '../auth/authenticator.js';

export const SPNEGO_ENCRYPTED = 'application/HTTP-SPNEGO-session-encrypted';
export const KERBEROS_ENCRYPTED = 'application/HTTP-Kerberos-session-encrypted';
const PROTOCOLS = [SPNEGO_ENCRYPTED, KERBEROS_ENCRYPTED];
const BOUNDARY = 'Encrypted Boundary';
export const encryptedContentType = (protocol: string) => `multipart/encrypted;protocol="${protocol}";boundary="${BOUNDARY}"`;
export const ENCRYPTED_CONTENT_TYPE = encryptedContentType(SPNEGO_ENCRYPTED);

export class EncryptionFormatError extends Error {}

const MAX_HEADER_PART = 1024;

/** The protocol of an encrypted body's Content-Type, or undefined when it is not one winrmd opens. */
export function encryptionProtocol(contentType: string): string | undefined {
  if (!/^multipart\/encrypted\s*;/i.test(contentType)) return undefined;
  const lower = contentType.toLowerCase();
  return PROTOCOLS.find((p) => lower.includes(p.toLowerCase()));
}

export function isEncrypted(contentType: string): boolean {
  return encryptionProtocol(contentType) !== undefined;
}

/** Opens an encrypted body: the plaintext and its original content type. Throws on a bad signature. */
export function openMessage(body: Buffer, contentType: string, security: MessageSecurity): { plaintext: Buffer; contentType: string } {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1] ?? BOUNDARY;
  const marker = Buffer.from(`--${boundary}\r\n`, 'latin1');
  const first = body.indexOf(marker);
  const second = first < 0 ? -1 : body.indexOf(marker, first + marker.length);
  if (first !== 0 || second < 0) throw new EncryptionFormatError('not a two-part multipart/encrypted body');
  // Two short header lines: bounded before any pattern runs over them.
  if (second - marker.length > MAX_HEADER_PART) throw new EncryptionFormatError('the first part is too long');
  const headers = body.subarray(first + marker.length, second).toString('latin1');
  const original = /OriginalContent:\s*type=([^\r\n]*?);\s*Length=(\d+)/i.exec(headers);
  if (!original) throw new EncryptionFormatError('the first part has no OriginalContent');
  const length = Number(original[2]);
  // The second part: one header line, then the length-prefixed signature and the sealed message.
  const lineEnd = body.indexOf('\r\n', second + marker.length);
  const end = body.lastIndexOf(Buffer.from(`--${boundary}--`, 'latin1'));
  if (lineEnd < 0 || end < lineEnd) throw new EncryptionFormatError('the second part is not terminated');
  const payload = body.subarray(lineEnd + 2, end);
  if (payload.length < 4) throw new EncryptionFormatError('no signature');
  const signatureLength = payload.readUInt32LE(0);
  if (4 + signatureLength > payload.length) throw new EncryptionFormatError('the signature runs past the part');
  const plaintext = security.unwrap(payload.subarray(4 + signatureLength), payload.subarray(4, 4 + signatureLength));
  if (plaintext.length !== length) throw new EncryptionFormatError(`OriginalContent Length ${length} but ${plaintext.length} bytes`);
  return { plaintext, contentType: original[1] };
}

/** Seals a reply for a connection whose request was encrypted (every reply, faults included). */
export function sealMessage(plaintext: Buffer, contentType: string, security: MessageSecurity, protocol: string = SPNEGO_ENCRYPTED): Buffer {
  const { signature, sealed } = security.wrap(plaintext);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(signature.length, 0);
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\n\tContent-Type: ${protocol}\r\n\tOriginalContent: type=${contentType};Length=${plaintext.length}\r\n` +
        `--${BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n`,
      'latin1',
    ),
    length,
    signature,
    sealed,
    Buffer.from(`--${BOUNDARY}--\r\n`, 'latin1'),
  ]);
}
