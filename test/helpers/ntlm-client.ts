// A client side of NTLMv2 for tests that must go where real clients never go: a wrong password
// with a valid-looking handshake, a replayed AUTHENTICATE, a body sealed with another session's
// keys, a handshake abandoned halfway. Built from MS-NLMP 3.1.5 and the server's own primitives,
// which the MS-NLMP §4.2 vectors pin down (test/unit/auth/ntlm.test.ts).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { MessageSecurity } from '../../src/auth/authenticator.js';
import { hmacMd5, ntHash, ntowfV2, rc4 } from '../../src/auth/ntlm/crypto.js';
import { AV, AV_FLAG_MIC, encodeAvPairs, F, fileTime, parseAvPairs, SIGNATURE } from '../../src/auth/ntlm/messages.js';
import { NtlmSession } from '../../src/auth/ntlm/session.js';
import { ENCRYPTED_CONTENT_TYPE, openMessage, sealMessage } from '../../src/http/encryption.js';

/** What pywinrm's ntlm-auth asks for (winrm-wire.md): SIGN, SEAL, KEY_EXCH, 128, 56, ESS, TARGET_INFO, VERSION, UNICODE, NTLM. */
export const PYWINRM_LIKE = (F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.ESS | F.TARGET_INFO | F.VERSION | F.N128 | F.KEY_EXCH | F.N56) >>> 0;

export function negotiateMessage(flags = PYWINRM_LIKE): Buffer {
  const m = Buffer.alloc(40);
  SIGNATURE.copy(m);
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(flags, 12);
  return m;
}

export interface AuthenticateOptions {
  user: string;
  password: string;
  domain?: string;
  /** MD5 of the channel bindings to send in MsvAvChannelBindings. */
  channelBindings?: Buffer;
  mic?: boolean;
}

/** AUTHENTICATE for a CHALLENGE (MS-NLMP 3.1.5.1.2), with the keys it sets up. */
export function authenticateMessage(negotiate: Buffer, challenge: Buffer, o: AuthenticateOptions): { message: Buffer; exportedSessionKey: Buffer; flags: number } {
  const flags = challenge.readUInt32LE(20);
  const serverChallenge = challenge.subarray(24, 32);
  const infoLen = challenge.readUInt16LE(40);
  const infoOff = challenge.readUInt32LE(44);
  const pairs = parseAvPairs(challenge.subarray(infoOff, infoOff + infoLen));
  const mic = o.mic ?? true;
  if (mic) pairs.set(AV.FLAGS, Buffer.from([AV_FLAG_MIC, 0, 0, 0]));
  if (o.channelBindings) pairs.set(AV.CHANNEL_BINDINGS, o.channelBindings);
  const timestamp = pairs.get(AV.TIMESTAMP) ?? Buffer.alloc(8);
  if (!pairs.has(AV.TIMESTAMP)) timestamp.writeBigUInt64LE(fileTime(Date.now()));
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), timestamp, randomBytes(8), Buffer.alloc(4), encodeAvPairs([...pairs]), Buffer.alloc(4)]);

  const domain = o.domain ?? '';
  const key = ntowfV2(ntHash(o.password), o.user, domain);
  const proof = hmacMd5(key, serverChallenge, temp);
  const sessionBaseKey = hmacMd5(key, proof);
  const exportedSessionKey = flags & F.KEY_EXCH ? randomBytes(16) : sessionBaseKey;
  const encryptedKey = flags & F.KEY_EXCH ? rc4(sessionBaseKey, exportedSessionKey) : Buffer.alloc(0);

  const u16 = (s: string) => Buffer.from(s, 'utf16le');
  const fields: Buffer[] = [Buffer.alloc(24), Buffer.concat([proof, temp]), u16(domain), u16(o.user), u16('TESTHOST'), encryptedKey];
  const header = Buffer.alloc(88);
  SIGNATURE.copy(header);
  header.writeUInt32LE(3, 8);
  let offset = header.length;
  fields.forEach((f, i) => {
    const at = 12 + i * 8;
    header.writeUInt16LE(f.length, at);
    header.writeUInt16LE(f.length, at + 2);
    header.writeUInt32LE(offset, at + 4);
    offset += f.length;
  });
  header.writeUInt32LE(flags, 60);
  const message = Buffer.concat([header, ...fields]);
  if (mic) hmacMd5(exportedSessionKey, negotiate, challenge, message).copy(message, 72);
  return { message, exportedSessionKey, flags };
}

/** A client-side MessageSecurity, so the server's own framing code seals and opens for the test. */
export function clientSecurity(exportedSessionKey: Buffer, flags: number): MessageSecurity {
  const session = new NtlmSession(exportedSessionKey, flags, 'client');
  return { wrap: (p) => session.wrap(p), unwrap: (s, sig) => session.unwrap(s, sig), required: false, end: () => undefined };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One keep-alive connection, as NTLM needs: every request of this client goes over the same socket. */
export class OneConnection {
  private readonly agent: http.Agent;

  constructor(
    private readonly url: string,
    tls: https.AgentOptions = {},
  ) {
    this.agent = url.startsWith('https:') ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, ...tls }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  post(body: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const lib = this.url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(this.url, { method: 'POST', agent: this.agent, headers: { 'Content-Type': 'application/soap+xml;charset=UTF-8', 'Content-Length': String(data.length), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** An NTLM client over one connection: handshake, then plain or sealed requests. */
export class NtlmTestClient {
  readonly connection: OneConnection;
  security?: MessageSecurity;
  /** The last AUTHENTICATE sent, for replay tests. */
  lastAuthenticate?: Buffer;

  constructor(url: string, tls: https.AgentOptions = {}) {
    this.connection = new OneConnection(url, tls);
  }

  /** Legs 1 and 2: NEGOTIATE → the CHALLENGE. */
  async negotiate(scheme = 'Negotiate', flags = PYWINRM_LIKE): Promise<{ negotiate: Buffer; challenge: Buffer; reply: Reply }> {
    const negotiate = negotiateMessage(flags);
    const reply = await this.connection.post('', { Authorization: `${scheme} ${negotiate.toString('base64')}` });
    const header = String(reply.headers['www-authenticate'] ?? '');
    const challenge = Buffer.from(header.slice(header.indexOf(' ') + 1), 'base64');
    return { negotiate, challenge, reply };
  }

  /** All three legs; the last one carries `body` (the Go client's way) or nothing (pywinrm's). */
  async handshake(o: AuthenticateOptions & { scheme?: string; flags?: number; body?: string }): Promise<Reply> {
    const scheme = o.scheme ?? 'Negotiate';
    const { negotiate, challenge } = await this.negotiate(scheme, o.flags);
    const auth = authenticateMessage(negotiate, challenge, o);
    this.lastAuthenticate = auth.message;
    const reply = await this.connection.post(o.body ?? '', { Authorization: `${scheme} ${auth.message.toString('base64')}` });
    if (reply.status === 200 && auth.flags & F.SEAL) this.security = clientSecurity(auth.exportedSessionKey, auth.flags);
    return reply;
  }

  /** A request with no Authorization header, sealed when the session seals (and `seal` is not false). */
  async post(xml: string, o: { seal?: boolean; security?: MessageSecurity } = {}): Promise<Reply & { text: string }> {
    const security = o.security ?? this.security;
    const sealed = o.seal !== false && security !== undefined;
    const body = sealed ? sealMessage(Buffer.from(xml), 'application/soap+xml;charset=UTF-8', security) : Buffer.from(xml);
    const reply = await this.connection.post(body, sealed ? { 'Content-Type': ENCRYPTED_CONTENT_TYPE } : {});
    const type = String(reply.headers['content-type'] ?? '');
    const text = this.security && type.startsWith('multipart/encrypted') ? openMessage(reply.body, type, this.security).plaintext.toString('utf8') : reply.body.toString('utf8');
    return { ...reply, text };
  }

  close(): void {
    this.connection.close();
  }
}
