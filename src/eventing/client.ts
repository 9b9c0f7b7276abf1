// winrmd's outbound WS-Management client (DESIGN.md "an outbound client"): what the forwarder,
// event deliveries to subscribers and the collector's own subscriptions send with. UTF-8
// envelopes, replies parsed, and the three ways a Windows peer authenticates a machine:
// - a client certificate over HTTPS (keep-alive connections);
// - NTLM (Negotiate) with message encryption: one connection per address, since NTLM
//   authenticates a connection (MS-NTHT); a 401 (the connection was replaced, or the session
//   ended) makes a new handshake and sends the message once more;
// - Basic, over HTTPS only (as WinRM's own client refuses it over HTTP).
// Where it may send is decided by its callers against the configuration; it follows no redirect.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import type { MessageSecurity } from '../auth/authenticator.js';
import { authenticateMessage, clientSecurity, negotiateMessage } from '../auth/ntlm/initiator.js';
import { ENCRYPTED_CONTENT_TYPE, openMessage, sealMessage } from '../http/encryption.js';
import { ANONYMOUS, NS } from '../soap/names.js';
import { child, el, parseXml, serialize, textOf, type XmlNode } from '../soap/xml.js';

/** How winrmd authenticates to a peer: PEM text and secrets, already read from their files. */
export interface Credentials {
  cert?: string;
  key?: string;
  /** The CA the peer's certificate must chain to (else the system's). */
  ca?: string;
  ntlm?: { user: string; password: string };
  basic?: { user: string; password: string };
}

/** The configuration's form of Credentials: file names (config/schema.ts, `remoteCredentials`). */
export interface CredentialFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  user?: string;
  passwordFile?: string;
  /** With user and passwordFile: Basic over HTTPS instead of NTLM. */
  basic?: boolean;
}

export function readCredentials(f: CredentialFiles): Credentials {
  const secret = () => readFileSync(f.passwordFile!, 'utf8').split(/\r?\n/)[0]!;
  return {
    ...(f.certFile && f.keyFile ? { cert: readFileSync(f.certFile, 'utf8'), key: readFileSync(f.keyFile, 'utf8') } : {}),
    ...(f.caFile ? { ca: readFileSync(f.caFile, 'utf8') } : {}),
    ...(f.user && f.passwordFile ? (f.basic ? { basic: { user: f.user, password: secret() } } : { ntlm: { user: f.user, password: secret() } }) : {}),
  };
}

export class ClientError extends Error {}

export interface ClientReply {
  status: number;
  /** The reply envelope, when there was one and it parsed. */
  body?: XmlNode;
  /** The reply's text as the peer wrote it (decoded from UTF-16 and unsealed where it was). */
  text?: string;
}

const LIMITS = { maxDepth: 64, maxAttributes: 64 };

function replyOf(status: number, bytes: Buffer): ClientReply {
  if (bytes.length === 0) return { status };
  const text = bytes[0] === 0xff && bytes[1] === 0xfe ? bytes.subarray(2).toString('utf16le') : bytes.toString('utf8');
  try {
    return { status, text, body: parseXml(text, LIMITS) };
  } catch {
    return { status, text };
  }
}

/** The local name of a SOAP fault's subcode in a reply (`DeliveryRefused`, `TimedOut`), if it is a fault. */
export function faultSubcode(envelope: XmlNode | undefined): string | undefined {
  return textOf(child(child(child(child(child(envelope, NS.soap, 'Body'), NS.soap, 'Fault'), NS.soap, 'Code'), NS.soap, 'Subcode'), NS.soap, 'Value'))?.split(':').pop();
}

export interface EnvelopeParts {
  to: string;
  action: string;
  resourceUri?: string;
  /** Headers after the standard ones: selectors, options, reference parameters, w:AckRequested, … */
  headers?: (XmlNode | undefined)[];
  body?: XmlNode[];
  operationTimeout?: string;
  messageId?: string;
}

/** A request envelope as Windows' own client writes one. */
export function requestEnvelope(p: EnvelopeParts): string {
  const header = el(NS.soap, 'Header', {},
    el(NS.wsa, 'To', {}, p.to),
    p.resourceUri ? el(NS.wsman, 'ResourceURI', { 's:mustUnderstand': 'true' }, p.resourceUri) : undefined,
    el(NS.wsa, 'ReplyTo', {}, el(NS.wsa, 'Address', { 's:mustUnderstand': 'true' }, ANONYMOUS)),
    el(NS.wsa, 'Action', { 's:mustUnderstand': 'true' }, p.action),
    el(NS.wsman, 'MaxEnvelopeSize', { 's:mustUnderstand': 'true' }, '512000'),
    el(NS.wsa, 'MessageID', {}, p.messageId ?? `uuid:${randomUUID().toUpperCase()}`),
    el(NS.wsman, 'OperationTimeout', {}, p.operationTimeout ?? 'PT60.000S'),
    ...(p.headers ?? []));
  return serialize(el(NS.soap, 'Envelope', {}, header, el(NS.soap, 'Body', {}, ...(p.body ?? []))));
}

export interface WsmanClient {
  /** `signal` abandons the request (a long poll when its owner stops). */
  post(url: string, xml: string, timeoutMs?: number, signal?: AbortSignal): Promise<ClientReply>;
  close(): void;
}

export function wsmanClient(c: Credentials): WsmanClient {
  const agents = new Map<string, http.Agent>();
  const sessions = new Map<string, MessageSecurity>();
  const tls = { ...(c.cert && c.key ? { cert: c.cert, key: c.key } : {}), ...(c.ca ? { ca: c.ca } : {}) };
  const agentFor = (url: URL) => {
    const key = url.origin + (c.ntlm ? url.pathname : '');
    let a = agents.get(key);
    if (!a) {
      a = url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: c.ntlm ? 1 : 4, ...tls }) : new http.Agent({ keepAlive: true, maxSockets: c.ntlm ? 1 : 4 });
      agents.set(key, a);
    }
    return { agent: a, key };
  };
  const send = (url: URL, agent: http.Agent, data: Buffer, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method: 'POST', agent, timeout: timeoutMs, signal, headers: { 'Content-Type': 'application/soap+xml;charset=UTF-8', 'Content-Length': String(data.length), 'User-Agent': 'winrmd', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          // A peer's reply is an Ack or a small envelope: one that runs on is cut off, not buffered.
          if (size > 4 * 1024 * 1024) return req.destroy(new ClientError('the reply exceeds 4 MiB'));
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new ClientError(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end(data);
    });
  const handshake = async (url: URL, agent: http.Agent, ntlm: { user: string; password: string }, timeoutMs: number): Promise<MessageSecurity> => {
    const negotiate = negotiateMessage();
    const first = await send(url, agent, Buffer.alloc(0), { Authorization: `Negotiate ${negotiate.toString('base64')}` }, timeoutMs);
    const challenge = String(first.headers['www-authenticate'] ?? '');
    if (first.status !== 401 || !/^Negotiate \S+/.test(challenge)) throw new ClientError(`${url.origin} did not challenge NTLM (HTTP ${first.status})`);
    const auth = authenticateMessage(negotiate, Buffer.from(challenge.slice(challenge.indexOf(' ') + 1), 'base64'), { user: ntlm.user, password: ntlm.password, workstation: os.hostname().split('.')[0]!.toUpperCase().slice(0, 15) });
    const done = await send(url, agent, Buffer.alloc(0), { Authorization: `Negotiate ${auth.message.toString('base64')}` }, timeoutMs);
    if (done.status !== 200) throw new ClientError(`${url.origin} refused the NTLM credentials (HTTP ${done.status})`);
    return clientSecurity(auth.exportedSessionKey, auth.flags);
  };
  return {
    async post(address, xml, timeoutMs = 60_000, signal) {
      const url = new URL(address);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ClientError(`${address} is not an HTTP or HTTPS address`);
      const data = Buffer.from(xml, 'utf8');
      const { agent, key } = agentFor(url);
      if (c.basic) {
        if (url.protocol !== 'https:') throw new ClientError('Basic credentials are sent over HTTPS only');
        const r = await send(url, agent, data, { Authorization: `Basic ${Buffer.from(`${c.basic.user}:${c.basic.password}`).toString('base64')}` }, timeoutMs, signal);
        return replyOf(r.status, r.body);
      }
      if (!c.ntlm) {
        const r = await send(url, agent, data, {}, timeoutMs, signal);
        return replyOf(r.status, r.body);
      }
      for (let attempt = 0; ; attempt++) {
        let security = sessions.get(key);
        if (!security) sessions.set(key, (security = await handshake(url, agent, c.ntlm, timeoutMs)));
        const r = await send(url, agent, sealMessage(data, 'application/soap+xml;charset=UTF-8', security), { 'Content-Type': ENCRYPTED_CONTENT_TYPE }, timeoutMs, signal);
        if (r.status === 401 && attempt === 0) {
          sessions.delete(key);
          continue;
        }
        const type = String(r.headers['content-type'] ?? '');
        // A sealed request is answered sealed: a plain body could have been written by anyone on the way.
        if (!type.startsWith('multipart/encrypted')) {
          if (r.body.length > 0) throw new ClientError(`${url.origin} answered a sealed message in clear text (HTTP ${r.status})`);
          return { status: r.status };
        }
        return replyOf(r.status, openMessage(r.body, type, security).plaintext);
      }
    },
    close() {
      for (const a of agents.values()) a.destroy();
      agents.clear();
      sessions.clear();
    },
  };
}

/**
 * Whether `address` lies under `allowed`: the same scheme, host and port, no user information,
 * and a path that is the allowed one or continues it after a `/` (so `/sinks` admits
 * `/sinks/a`, not `/sinksevil`). Escaped slashes, backslashes and `;` parameters are refused:
 * a receiving server may read them as other paths than the one compared.
 */
export function isUnder(address: string, allowed: string): boolean {
  try {
    const a = new URL(address);
    const b = new URL(allowed);
    if (a.origin !== b.origin || a.username !== '' || a.password !== '') return false;
    if (/%2f|%5c|;/i.test(a.pathname)) return false;
    const base = b.pathname.endsWith('/') ? b.pathname : `${b.pathname}/`;
    return a.pathname === b.pathname || a.pathname.startsWith(base);
  } catch {
    return false;
  }
}
