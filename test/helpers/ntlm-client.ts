// A client side of NTLMv2 for tests that must go where real clients never go: a wrong password
// with a valid-looking handshake, a replayed AUTHENTICATE, a body sealed with another session's
// keys, a handshake abandoned halfway. Built from MS-NLMP 3.1.5 and the server's own primitives,
// which the MS-NLMP §4.2 vectors pin down (test/unit/auth/ntlm.test.ts).
import http from 'node:http';
import https from 'node:https';
import type { MessageSecurity } from '../../src/auth/authenticator.js';
import { F } from '../../src/auth/ntlm/messages.js';
import { ENCRYPTED_CONTENT_TYPE, openMessage, sealMessage } from '../../src/http/encryption.js';

export { authenticateMessage, clientSecurity, negotiateMessage, PYWINRM_LIKE, type AuthenticateOptions } from '../../src/auth/ntlm/initiator.js';
import { authenticateMessage, clientSecurity, negotiateMessage, PYWINRM_LIKE, type AuthenticateOptions } from '../../src/auth/ntlm/initiator.js';

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
