// The HTTP face of winrmd: three routes and nothing else (openwsman CVE-2019-3816: no file
// serving, no other path). Bodies are read raw, bounded before they are read (MaxEnvelopeSize →
// 413, MS-WSMV 3.1.4.1.20), authenticated before they reach the core, and every request gets one
// pino child logger carrying its id, user, action, resource, status and duration.
import Router from '@koa/router';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AuthOutcome, AuthService } from '../auth/authenticator.js';
import { SOAP_CONTENT_TYPE } from '../soap/envelope.js';
import { decodeBody, XmlError } from '../soap/xml.js';
import { ENCRYPTED_CONTENT_TYPE, isEncrypted, openMessage, sealMessage } from './encryption.js';
import type { Core } from '../wsman/core.js';
import type { AuthMethod, Reply, RequestInfo } from '../wsman/exchange.js';
import type { UnauthenticatedSlots } from './connection-slots.js';
import type { Overload } from './overload.js';
import { peerCertificateOf } from './tls.js';

export interface AppOptions {
  core: Core;
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
}

/** One id per TCP connection, for the core (NTLM contexts, the audit trail). */
const connectionIds = new WeakMap<object, string>();
let connections = 0;
function connectionId(socket: object): string {
  let id = connectionIds.get(socket);
  if (!id) connectionIds.set(socket, (id = `c${(++connections).toString(36)}`));
  return id;
}

/** What the transport tells the core about a request (src/wsman/exchange.ts RequestInfo). */
function requestInfo(ctx: Koa.Context, secure: boolean, authMethod: AuthMethod): RequestInfo {
  const socket = ctx.req.socket;
  return {
    path: ctx.path,
    secure,
    clientAddress: socket.remoteAddress ?? '',
    authMethod,
    peerCertificate: () => (secure ? peerCertificateOf(socket as TLSSocket) : undefined),
    connectionId: connectionId(socket),
    headers: ctx.req.headers,
  };
}

class BodyTooLarge extends Error {}

/** Room for the multipart framing and signature around a sealed envelope of the maximum size. */
const ENCRYPTION_OVERHEAD = 1024;

/** Read the raw body, refusing it as soon as it passes the limit (events: cheaper than for-await). */
function readBody(req: Koa.Context['req'], limit: number): Promise<Buffer> {
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
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A client that goes away mid-body must not leave this promise (and its request) pending.
    req.once('close', () => !req.complete && reject(new Error('the client closed the connection before the body ended')));
  });
}

export function createApp(opts: AppOptions): Koa {
  const app = new Koa();
  // strict: `/wsman/` is not `/wsman` (only the exact paths answer).
  const router = new Router({ strict: true });
  app.proxy = false;
  // Koa's own error printing would bypass pino; the try/catch below is the one boundary.
  app.silent = true;

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const log = opts.log.child({ reqId: randomUUID(), client: ctx.req.socket.remoteAddress });
    ctx.state.log = log;
    try {
      await next();
    } catch (err) {
      log.error({ event: 'http_error', err }, 'unhandled error');
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = 'internal error';
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log.info({ event: 'request', method: ctx.method, path: ctx.path, user: ctx.state.user, action: ctx.state.action, resource: ctx.state.resource, fault: ctx.state.fault, status: ctx.status, ms: Math.round(ms * 1000) / 1000 });
  });

  const soap = (ctx: Koa.Context, reply: Reply) => {
    ctx.status = reply.status;
    if (reply.body) {
      ctx.set('Content-Type', SOAP_CONTENT_TYPE);
      ctx.body = reply.body;
    } else {
      ctx.body = ''; // a bare status (the collector's 204, 403, 404): no envelope
    }
    ctx.state.action = reply.action;
    ctx.state.resource = reply.resourceUri;
    ctx.state.fault = reply.fault;
  };

  /** Read the raw body, answering 413 itself (and returning undefined) when it is over the limit. */
  const tooLarge = (ctx: Koa.Context) => {
    ctx.status = 413;
    ctx.set('Connection', 'close');
    return undefined;
  };
  const rawBody = async (ctx: Koa.Context, limit: number): Promise<Buffer | undefined> => {
    if (Number(ctx.get('Content-Length') || 0) > limit) return tooLarge(ctx);
    try {
      return await readBody(ctx.req, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) return tooLarge(ctx);
      throw err;
    }
  };
  /** Decode bytes to text, answering 400 itself when they are not UTF-8 or UTF-16. */
  const decode = (ctx: Koa.Context, bytes: Buffer, contentType: string): string | undefined => {
    try {
      return decodeBody(bytes, contentType);
    } catch (err) {
      if (!(err instanceof XmlError)) throw err;
      ctx.status = 400;
      ctx.type = 'text/plain';
      ctx.body = err.message;
      return undefined;
    }
  };
  const body = async (ctx: Koa.Context) => {
    const raw = await rawBody(ctx, opts.maxBodyBytes);
    return raw && decode(ctx, raw, ctx.get('Content-Type'));
  };

  const refuse = (ctx: Koa.Context, secure: boolean, reason: string, o: { challenge?: string; none?: boolean } = {}) => {
    const log: Logger = ctx.state.log;
    const { challenge } = o;
    if (challenge) log.debug({ event: 'auth_challenge' });
    // NTLM clients open every connection with a request that has no credential: that is not news.
    else if (o.none) log.debug({ event: 'auth_required' });
    else log.warn({ event: 'auth_failed', reason });
    ctx.status = 401;
    // A handshake's next leg carries exactly one WWW-Authenticate (RFC 4559: the token for the one mechanism in use).
    ctx.set('WWW-Authenticate', challenge ? [challenge] : opts.auth.challenges(secure));
    ctx.body = '';
    // A connection that has not authenticated holds a slot of maxConnections only while a
    // handshake may need it: after a challenge, or after a request with no credential at all
    // (pywinrm and the Go client open NTLM that way and go on on the same connection), its next
    // leg must come, body and all, within unauthenticatedIdleMs. A refused credential closes it,
    // and the rest of its body is never read.
    if (!challenge && !o.none) {
      ctx.set('Connection', 'close');
      return;
    }
    const idleMs = opts.unauthenticatedIdleMs ?? 10_000;
    const { req, res } = ctx;
    const socket = req.socket;
    if (!req.complete) {
      const late = setTimeout(() => socket.destroy(), idleMs);
      req.once('end', () => clearTimeout(late));
      socket.once('close', () => clearTimeout(late));
    }
    // After Node's own keep-alive timer is set at 'finish' (node:_http_server resOnFinish); the next request resets it.
    res.once('finish', () => socket.setTimeout(idleMs));
  };

  /** 503 with Retry-After while the server is past its bound; true when the request was shed. */
  const shed = (ctx: Koa.Context): boolean => {
    if (!opts.overload?.now) return false;
    ctx.status = 503;
    ctx.set('Retry-After', '1');
    ctx.type = 'text/plain';
    ctx.body = 'winrmd is overloaded; retry shortly';
    ctx.state.fault = 'overloaded';
    return true;
  };

  router.post('/wsman', async (ctx) => {
    if (shed(ctx)) return;
    const log: Logger = ctx.state.log;
    const secure = Boolean((ctx.req.socket as TLSSocket).encrypted);
    const outcome = await opts.auth.authenticate({
      authorization: ctx.get('Authorization') || undefined,
      secure,
      clientAddress: ctx.req.socket.remoteAddress ?? '',
      connection: ctx.req.socket,
    });
    if (!outcome.ok) {
      // Windows answers an unauthenticated Identify on /wsman when asked to (MS-WSMV 3.1.4.1.30).
      if (!ctx.get('Authorization') && ctx.get('WSMANIDENTIFY').toLowerCase() === 'unauthenticated') {
        const xml = await body(ctx);
        if (xml !== undefined) soap(ctx, await opts.core.handle(xml, { info: requestInfo(ctx, secure, 'anonymous'), log }));
        return;
      }
      return refuse(ctx, secure, outcome.reason, outcome);
    }
    ctx.state.user = outcome.caller.user;
    opts.slots?.authenticated(ctx.req.socket);
    if (outcome.mutualToken) ctx.set('WWW-Authenticate', outcome.mutualToken);
    const { security } = outcome;
    if (!security) return serve(ctx, outcome, secure);
    // One RC4 stream per direction: requests on a sealing connection are opened and their replies
    // sealed in order, one at a time, even if a client pipelines them.
    const socket = ctx.req.socket;
    const previous = turns.get(socket) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    turns.set(socket, mine);
    await previous;
    try {
      await serve(ctx, outcome, secure);
    } finally {
      done();
    }
  });

  const turns = new WeakMap<object, Promise<void>>();
  const serve = async (ctx: Koa.Context, outcome: AuthOutcome & { ok: true }, secure: boolean) => {
    const log: Logger = ctx.state.log;
    const { security } = outcome;
    const contentType = ctx.get('Content-Type');
    const sealed = security !== undefined && isEncrypted(contentType);
    const raw = await rawBody(ctx, sealed ? opts.maxBodyBytes + ENCRYPTION_OVERHEAD : opts.maxBodyBytes);
    if (raw === undefined) return;
    let plaintext = raw;
    let plainType = contentType;
    if (sealed) {
      try {
        ({ plaintext, contentType: plainType } = openMessage(raw, contentType, security));
      } catch (err) {
        // A bad signature or framing ends the session: the client must authenticate again.
        security.end();
        return refuse(ctx, secure, `encrypted message refused: ${(err as Error).message}`);
      }
      if (plaintext.length > opts.maxBodyBytes) return tooLarge(ctx);
    } else if (security?.required && raw.length > 0) {
      security.end();
      return refuse(ctx, secure, 'an unencrypted message on a connection that must encrypt (allowUnencrypted is false)');
    }
    if (raw.length === 0) {
      // The blank message that completes a handshake before encryption starts (pywinrm).
      ctx.status = 200;
      ctx.body = '';
      return;
    }

    const xml = decode(ctx, plaintext, plainType);
    if (xml !== undefined) {
      // A client that hangs up before its reply aborts the work: nobody waits for it.
      const work = new AbortController();
      let gone = false;
      ctx.res.once('close', () => {
        if (ctx.res.writableFinished) return;
        gone = true;
        work.abort(new Error('the client closed the connection'));
      });
      const info = requestInfo(ctx, secure, outcome.method ?? 'anonymous');
      soap(ctx, await opts.core.handle(xml, { info, caller: outcome.caller, log, work }));
      if (gone) log.info({ event: 'client_gone' });
    }
    if (sealed && ctx.body !== undefined && ctx.body !== null) {
      // Every reply on an encrypting connection is sealed, faults and errors included.
      const reply = Buffer.isBuffer(ctx.body) ? ctx.body : Buffer.from(String(ctx.body), 'utf8');
      const type = ctx.response.get('Content-Type') || 'text/plain;charset=UTF-8';
      ctx.body = sealMessage(reply, type, security);
      ctx.set('Content-Type', ENCRYPTED_CONTENT_TYPE);
    }
  };

  router.post('/wsman-anon', async (ctx) => {
    if (shed(ctx)) return;
    const xml = await body(ctx);
    const secure = Boolean((ctx.req.socket as TLSSocket).encrypted);
    if (xml !== undefined) soap(ctx, await opts.core.handle(xml, { info: requestInfo(ctx, secure, 'anonymous'), log: ctx.state.log }));
  });

  // Ready only once every configured listener is up (a first start generates the certificate).
  router.get('/healthz', (ctx) => {
    const ready = opts.ready?.() ?? true;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ok' : 'starting' };
  });

  app.use(router.routes());
  return app;
}
