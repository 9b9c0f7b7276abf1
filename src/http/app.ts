// The HTTP face of winrmd: a few fixed routes and nothing else (openwsman CVE-2019-3816: no file
// serving, no other path). Bodies are read raw, bounded before they are read (MaxEnvelopeSize →
// 413, MS-WSMV 3.1.4.1.20), authenticated before they reach the core, and every request gets one
// pino child logger carrying its id, user, action, resource, status and duration.
// Plain node:http: a web framework's per-request context cost about a third of the CPU of a
// new-connection Identify and 15 MB of resident memory, for three fixed routes (issue 12).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AuthOutcome, AuthService } from '../auth/authenticator.js';
import type { Caller } from '../provider-api.js';
import type { Dashboard } from '../admin/dashboard/index.js';
import { SOAP_CONTENT_TYPE, SOAP_CONTENT_TYPE_UTF16 } from '../soap/envelope.js';
import { decodeSldcBody, SldcError } from '../eventing/sldc.js';
import { decodeBody, isUtf16, XmlError } from '../soap/xml.js';
import type { Core } from '../wsman/core.js';
import type { AuthMethod, Reply, RequestInfo } from '../wsman/exchange.js';
import type { UnauthenticatedSlots } from './connection-slots.js';
import { encryptedContentType, encryptionProtocol, openMessage, sealMessage } from './encryption.js';
import type { Overload } from './overload.js';
import { peerCertificateOf } from './tls.js';

export interface AppOptions {
  /** What answers an authenticated request's envelope: the protocol core (or the lab's recorder, which forwards it). */
  core: Pick<Core, 'handle'>;
  auth: AuthService;
  log: Logger;
  maxBodyBytes: number;
  /** Whether every configured listener is up (`/healthz` answers 503 until then). */
  ready?: () => boolean;
  /** limits.unauthenticatedIdleMs: how long a connection mid-handshake may idle or trickle its body. */
  unauthenticatedIdleMs?: number;
  /** While this says so, new requests are answered 503 (src/http/overload.ts). */
  overload?: Overload;
  /** Told when a connection authenticates, so it no longer counts as unauthenticated. */
  slots?: UnauthenticatedSlots;
  /**
   * POSTs to paths under `/wsman/` reach the core too: the event collector's Server= addresses
   * and delivery paths (the core refuses anything but the collector's routes there).
   */
  servesSubpaths?: boolean;
  /** GET /metrics, for a caller the access policy gives the metrics grant. */
  metrics?: {
    authorize(caller: Caller, origin: { clientAddress: string; authMethod: AuthMethod; secure: boolean }, log: Logger): Promise<boolean>;
    render(): Promise<{ contentType: string; body: string }>;
  };
  /** The web dashboard, under /dashboard (src/admin/dashboard). */
  dashboard?: Pick<Dashboard, 'handle'>;
  /** Told of each refused credential, and of the first authenticated request of each connection (the audit trail). */
  onAuthentication?(e: { ok: boolean; user?: string; method?: AuthMethod; address: string; reason?: string }): void;
}

export interface App {
  /** The request listener for node:http and node:https servers (and supertest). */
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}

/** One id per TCP connection, for the core (NTLM contexts, the audit trail). */
const connectionIds = new WeakMap<object, string>();
let connections = 0;
function connectionId(socket: object): string {
  let id = connectionIds.get(socket);
  if (!id) connectionIds.set(socket, (id = `c${(++connections).toString(36)}`));
  return id;
}

/** One request as it is served: what is known of it, and the reply being built. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  log: Logger;
  secure: boolean;
  status: number;
  headers: Record<string, string | string[]>;
  body: string | Buffer;
  /** The request came in UTF-16: so does its reply (Windows event forwarders write UTF-16LE). */
  utf16?: boolean;
  /** For the request's log line. */
  user?: string;
  action?: string;
  resource?: string;
  fault?: string;
}

const header = (ex: Exchange, name: string): string => {
  const v = ex.req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
};

/** What the transport tells the core about a request (src/wsman/exchange.ts RequestInfo). */
function requestInfo(ex: Exchange, authMethod: AuthMethod): RequestInfo {
  const socket = ex.req.socket;
  return {
    path: ex.path,
    secure: ex.secure,
    clientAddress: socket.remoteAddress ?? '',
    authMethod,
    peerCertificate: () => (ex.secure ? peerCertificateOf(socket as TLSSocket) : undefined),
    connectionId: connectionId(socket),
    headers: ex.req.headers,
  };
}

class BodyTooLarge extends Error {}

const UTF16LE_BOM = Buffer.from([0xff, 0xfe]);
const UTF8_DECLARATION = /^<\?xml version="1\.0" encoding="UTF-8"\?>/;

/** Room for the multipart framing and signature around a sealed envelope of the maximum size. */
const ENCRYPTION_OVERHEAD = 1024;

/** Read the raw body, refusing it as soon as it passes the limit (events: cheaper than for-await). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume(); // drain without keeping; the 413 closes the connection
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A client that goes away mid-body must not leave this promise (and its request) pending.
    req.once('close', () => !req.complete && reject(new Error('the client closed the connection before the body ended')));
  });
}

export function createApp(opts: AppOptions): App {
  const text = (ex: Exchange, status: number, body: string) => {
    ex.status = status;
    ex.headers['Content-Type'] = 'text/plain; charset=utf-8';
    ex.body = body;
  };

  const soap = (ex: Exchange, reply: Reply) => {
    ex.status = reply.status;
    if (reply.body && ex.utf16) {
      // In the request's encoding, with a byte-order mark, as Windows answers a UTF-16 request.
      ex.headers['Content-Type'] = SOAP_CONTENT_TYPE_UTF16;
      ex.body = Buffer.concat([UTF16LE_BOM, Buffer.from(reply.body.replace(UTF8_DECLARATION, '<?xml version="1.0" encoding="UTF-16"?>'), 'utf16le')]);
    } else if (reply.body) {
      ex.headers['Content-Type'] = SOAP_CONTENT_TYPE;
      ex.body = reply.body;
    } // else a bare status (the collector's 204, 403, 404): no envelope
    ex.action = reply.action;
    ex.resource = reply.resourceUri;
    ex.fault = reply.fault;
  };

  /** 413, closing the connection: the rest of the body is not read. */
  const tooLarge = (ex: Exchange) => {
    ex.status = 413;
    ex.headers.Connection = 'close';
    return undefined;
  };
  /** Read the raw body, answering 413 itself (and returning undefined) when it is over the limit. */
  const rawBody = async (ex: Exchange, limit: number): Promise<Buffer | undefined> => {
    if (Number(header(ex, 'content-length') || 0) > limit) return tooLarge(ex);
    try {
      return await readBody(ex.req, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) return tooLarge(ex);
      throw err;
    }
  };
  /**
   * Decode bytes to text, answering 400 itself when they are not UTF-8 or UTF-16 or not valid
   * SLDC. `Content-Encoding: SLDC` (MS-WSMV 2.2.9.2) applies to the bytes an encrypted message
   * carries, so it is undone after decryption.
   */
  const decode = (ex: Exchange, bytes: Buffer, contentType: string): string | undefined => {
    try {
      const plain = header(ex, 'content-encoding').toLowerCase() === 'sldc' ? decodeSldcBody(bytes, opts.maxBodyBytes) : bytes;
      ex.utf16 = isUtf16(plain, contentType);
      return decodeBody(plain, contentType);
    } catch (err) {
      if (!(err instanceof XmlError) && !(err instanceof SldcError)) throw err;
      text(ex, 400, err.message);
      return undefined;
    }
  };
  const body = async (ex: Exchange) => {
    const raw = await rawBody(ex, opts.maxBodyBytes);
    return raw && decode(ex, raw, header(ex, 'content-type'));
  };

  const refuse = (ex: Exchange, reason: string, o: { challenge?: string; none?: boolean } = {}) => {
    const { challenge } = o;
    if (challenge) ex.log.debug({ event: 'auth_challenge' });
    // NTLM clients open every connection with a request that has no credential: that is not news.
    else if (o.none) ex.log.debug({ event: 'auth_required' });
    else ex.log.warn({ event: 'auth_failed', reason });
    ex.status = 401;
    // A handshake's next leg carries exactly one WWW-Authenticate (RFC 4559: the token for the one mechanism in use).
    ex.headers['WWW-Authenticate'] = challenge ? [challenge] : opts.auth.challenges(ex.secure);
    ex.body = '';
    // A connection that has not authenticated holds a slot of maxConnections only while a
    // handshake may need it: after a challenge, or after a request with no credential at all
    // (pywinrm and the Go client open NTLM that way and go on on the same connection), its next
    // leg must come, body and all, within unauthenticatedIdleMs. A refused credential closes it,
    // and the rest of its body is never read.
    if (!challenge && !o.none) {
      ex.headers.Connection = 'close';
      return;
    }
    const idleMs = opts.unauthenticatedIdleMs ?? 10_000;
    const { req, res } = ex;
    const socket = req.socket;
    if (!req.complete) {
      const late = setTimeout(() => socket.destroy(), idleMs);
      req.once('end', () => clearTimeout(late));
      socket.once('close', () => clearTimeout(late));
    }
    // After Node's own keep-alive timer is set at 'finish' (node:_http_server resOnFinish); the next request resets it.
    res.once('finish', () => socket.setTimeout(idleMs));
  };

  /** Connections on which a request has authenticated: their clients' work in progress goes on. */
  const admitted = new WeakSet<object>();
  /**
   * 503 with Retry-After while the server is past its bound, to connections that have not yet
   * authenticated: work in progress on the others (a shell's Receive and Delete, an enumeration's
   * next Pull) would otherwise be refused halfway, holding what it holds. True when shed.
   */
  const shed = (ex: Exchange): boolean => {
    if (!opts.overload?.now || admitted.has(ex.req.socket)) return false;
    text(ex, 503, 'winrmd is overloaded; retry shortly');
    ex.headers['Retry-After'] = '1';
    ex.fault = 'overloaded';
    return true;
  };

  /** The request's credential checked; a refused one (not a handshake's next leg) reported. */
  const authenticate = async (ex: Exchange, authorization: string | undefined) => {
    const outcome = await opts.auth.authenticate({ authorization, secure: ex.secure, clientAddress: ex.req.socket.remoteAddress ?? '', connection: ex.req.socket });
    if (!outcome.ok && !outcome.challenge && !outcome.none) opts.onAuthentication?.({ ok: false, user: outcome.user, address: ex.req.socket.remoteAddress ?? '', reason: outcome.reason });
    return outcome;
  };

  const wsman = async (ex: Exchange) => {
    if (shed(ex)) return;
    const authorization = header(ex, 'authorization') || undefined;
    const outcome = await authenticate(ex, authorization);
    if (!outcome.ok) {
      // Windows answers an unauthenticated Identify on /wsman when asked to (MS-WSMV 3.1.4.1.30).
      if (!authorization && header(ex, 'wsmanidentify').toLowerCase() === 'unauthenticated') {
        const xml = await body(ex);
        if (xml !== undefined) soap(ex, await opts.core.handle(xml, { info: requestInfo(ex, 'anonymous'), log: ex.log }));
        return;
      }
      return refuse(ex, outcome.reason, outcome);
    }
    ex.user = outcome.caller.user;
    if (!admitted.has(ex.req.socket)) opts.onAuthentication?.({ ok: true, user: outcome.caller.user, method: outcome.method, address: ex.req.socket.remoteAddress ?? '' });
    opts.slots?.authenticated(ex.req.socket);
    admitted.add(ex.req.socket);
    if (outcome.mutualToken) ex.headers['WWW-Authenticate'] = outcome.mutualToken;
    const { security } = outcome;
    if (!security) return serve(ex, outcome);
    // One RC4 stream per direction: requests on a sealing connection are opened and their replies
    // sealed in order, one at a time, even if a client pipelines them.
    const socket = ex.req.socket;
    const previous = turns.get(socket) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    turns.set(socket, mine);
    await previous;
    try {
      await serve(ex, outcome);
    } finally {
      done();
    }
  };

  const turns = new WeakMap<object, Promise<void>>();
  const serve = async (ex: Exchange, outcome: AuthOutcome & { ok: true }) => {
    const { security } = outcome;
    const contentType = header(ex, 'content-type');
    const protocol = encryptionProtocol(contentType);
    const sealed = security !== undefined && protocol !== undefined;
    const raw = await rawBody(ex, sealed ? opts.maxBodyBytes + ENCRYPTION_OVERHEAD : opts.maxBodyBytes);
    if (raw === undefined) return;
    let plaintext = raw;
    let plainType = contentType;
    if (security && sealed) {
      try {
        ({ plaintext, contentType: plainType } = openMessage(raw, contentType, security));
      } catch (err) {
        // A bad signature or framing ends the session: the client must authenticate again.
        security.end();
        return refuse(ex, `encrypted message refused: ${(err as Error).message}`);
      }
      if (plaintext.length > opts.maxBodyBytes) return tooLarge(ex);
    } else if (security?.required && raw.length > 0) {
      security.end();
      return refuse(ex, 'an unencrypted message on a connection that must encrypt (allowUnencrypted is false)');
    }
    if (raw.length === 0) {
      // The blank message that completes a handshake before encryption starts (pywinrm).
      ex.status = 200;
      return;
    }

    const xml = decode(ex, plaintext, plainType);
    if (xml !== undefined) {
      // A client that hangs up before its reply aborts the work: nobody waits for it.
      const work = new AbortController();
      let gone = false;
      ex.res.once('close', () => {
        if (ex.res.writableFinished) return;
        gone = true;
        work.abort(new Error('the client closed the connection'));
      });
      const info = requestInfo(ex, outcome.method ?? 'anonymous');
      soap(ex, await opts.core.handle(xml, { info, caller: outcome.caller, log: ex.log, work }));
      if (gone) ex.log.info({ event: 'client_gone' });
    }
    if (security && sealed && ex.body.length > 0) {
      // Every reply on an encrypting connection is sealed, faults and errors included; a bare
      // status (the collector's 204 to End) has no body to seal and must have none (RFC 9110 §15.3.5).
      const reply = Buffer.isBuffer(ex.body) ? ex.body : Buffer.from(ex.body, 'utf8');
      const type = (ex.headers['Content-Type'] as string | undefined) ?? 'text/plain;charset=UTF-8';
      ex.body = sealMessage(reply, type, security, protocol);
      ex.headers['Content-Type'] = encryptedContentType(protocol!);
    }
  };

  const anonymous = async (ex: Exchange) => {
    if (shed(ex)) return;
    const xml = await body(ex);
    if (xml !== undefined) soap(ex, await opts.core.handle(xml, { info: requestInfo(ex, 'anonymous'), log: ex.log }));
  };

  // Prometheus scrapes with Basic or a client certificate: one request, no message encryption.
  const metrics = async (ex: Exchange) => {
    if (shed(ex)) return;
    const outcome = await authenticate(ex, header(ex, 'authorization') || undefined);
    if (!outcome.ok) return refuse(ex, outcome.reason, outcome);
    ex.user = outcome.caller.user;
    if (outcome.security) return text(ex, 400, 'metrics are not served over message encryption: scrape over HTTPS');
    const origin = { clientAddress: ex.req.socket.remoteAddress ?? '', authMethod: outcome.method ?? 'basic', secure: ex.secure };
    if (!(await opts.metrics!.authorize(outcome.caller, origin, ex.log))) return text(ex, 403, 'Forbidden');
    const m = await opts.metrics!.render();
    ex.status = 200;
    ex.headers['Content-Type'] = m.contentType;
    ex.body = m.body;
  };

  /** The dashboard's forms are small: a sign-in, a CSRF token and a name. */
  const FORM_LIMIT = 16 * 1024;
  const dashboard = async (ex: Exchange) => {
    if (shed(ex)) return;
    const url = ex.req.url ?? '';
    const q = url.indexOf('?');
    const reply = await opts.dashboard!.handle({
      method: ex.req.method ?? 'GET', path: ex.path, query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
      header: (name) => header(ex, name), clientAddress: ex.req.socket.remoteAddress ?? '', secure: ex.secure, log: ex.log,
      form: async () => {
        if (!/^application\/x-www-form-urlencoded\b/i.test(header(ex, 'content-type'))) return undefined;
        const raw = await rawBody(ex, FORM_LIMIT);
        return raw && new URLSearchParams(raw.toString('utf8'));
      },
    }, ex.req.socket);
    if (ex.status === 413) return; // the form was too large: rawBody answered
    ex.status = reply.status;
    ex.headers = { ...ex.headers, ...reply.headers };
    ex.body = reply.body;
    ex.user = reply.user;
  };

  // Ready only once every configured listener is up (a first start generates the certificate).
  const healthz = (ex: Exchange) => {
    const ready = opts.ready?.() ?? true;
    ex.status = ready ? 200 : 503;
    ex.headers['Content-Type'] = 'application/json; charset=utf-8';
    ex.body = JSON.stringify({ status: ready ? 'ok' : 'starting' });
  };

  /** Exactly these (and, with the collector, POSTs under `/wsman/`); everything else is 404. No path is normalised. */
  const route = (method: string | undefined, path: string): ((ex: Exchange) => void | Promise<void>) | undefined => {
    if ((method === 'GET' || method === 'POST') && opts.dashboard && (path === '/dashboard' || path.startsWith('/dashboard/'))) return dashboard;
    if (method === 'POST') return path === '/wsman' || (opts.servesSubpaths && path.startsWith('/wsman/')) ? wsman : path === '/wsman-anon' ? anonymous : undefined;
    if ((method === 'GET' || method === 'HEAD') && path === '/healthz') return healthz;
    if (method === 'GET' && path === '/metrics' && opts.metrics) return metrics;
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ex: Exchange = {
      req, res, path: q < 0 ? url : url.slice(0, q),
      log: opts.log.child({ reqId: randomUUID(), client: req.socket.remoteAddress }),
      secure: Boolean((req.socket as TLSSocket).encrypted), status: 404, headers: {}, body: '',
    };
    try {
      const serveRoute = route(req.method, ex.path);
      if (serveRoute) await serveRoute(ex);
      else text(ex, 404, 'Not Found');
    } catch (err) {
      // The one boundary: nothing a request does escapes as anything but a plain 500.
      ex.log.error({ event: 'http_error', err }, 'unhandled error');
      ex.headers = {};
      text(ex, 500, 'internal error');
    }
    send(ex);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    ex.log.info({ event: 'request', method: req.method, path: ex.path, user: ex.user, action: ex.action, resource: ex.resource, fault: ex.fault, status: ex.status, ms: Math.round(ms * 1000) / 1000 });
  };

  return { callback: () => (req, res) => void handle(req, res) };
}

/** Write the reply: status, headers, a Content-Length (keep-alive needs it), the body. */
function send(ex: Exchange): void {
  const { res } = ex;
  if (res.headersSent || res.destroyed) return;
  const bytes = typeof ex.body === 'string' ? Buffer.from(ex.body, 'utf8') : ex.body;
  // RFC 9110 §8.6: no Content-Length on a 204 (the collector's bare replies).
  if (ex.status !== 204) ex.headers['Content-Length'] = String(bytes.length);
  res.writeHead(ex.status, ex.headers);
  res.end(bytes);
}
