// The HTTP face of winrmd: three routes and nothing else (openwsman CVE-2019-3816: no file
// serving, no other path). Bodies are read raw, bounded before they are read (MaxEnvelopeSize →
// 413, MS-WSMV 3.1.4.1.20), authenticated before they reach the core, and every request gets one
// pino child logger carrying its id, user, action, resource, status and duration.
import Router from '@koa/router';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AuthService } from '../auth/authenticator.js';
import { SOAP_CONTENT_TYPE } from '../soap/envelope.js';
import { decodeBody, XmlError } from '../soap/xml.js';
import type { Core, Reply } from '../wsman/core.js';

export interface AppOptions {
  core: Core;
  auth: AuthService;
  log: Logger;
  maxBodyBytes: number;
}

class BodyTooLarge extends Error {}

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
    ctx.set('Content-Type', SOAP_CONTENT_TYPE);
    ctx.body = reply.body;
    ctx.state.action = reply.action;
    ctx.state.resource = reply.resourceUri;
    ctx.state.fault = reply.fault;
  };

  /** Read and decode the body, answering 413 or 400 itself when it cannot. */
  const tooLarge = (ctx: Koa.Context) => {
    ctx.status = 413;
    ctx.set('Connection', 'close');
    return undefined;
  };
  const body = async (ctx: Koa.Context): Promise<string | undefined> => {
    if (Number(ctx.get('Content-Length') || 0) > opts.maxBodyBytes) return tooLarge(ctx);
    try {
      return decodeBody(await readBody(ctx.req, opts.maxBodyBytes), ctx.get('Content-Type'));
    } catch (err) {
      if (err instanceof BodyTooLarge) return tooLarge(ctx);
      if (err instanceof XmlError) {
        ctx.status = 400;
        ctx.type = 'text/plain';
        ctx.body = err.message;
        return undefined;
      }
      throw err;
    }
  };

  router.post('/wsman', async (ctx) => {
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
        if (xml !== undefined) soap(ctx, opts.core.identifyAnonymous(xml, log));
        return;
      }
      log.warn({ event: 'auth_failed', reason: outcome.reason });
      ctx.status = 401;
      ctx.set('WWW-Authenticate', outcome.challenge ? [outcome.challenge] : opts.auth.challenges(secure));
      ctx.body = '';
      return;
    }
    ctx.state.user = outcome.caller.user;
    const xml = await body(ctx);
    if (xml === undefined) return;
    const gone = new AbortController();
    ctx.res.once('close', () => !ctx.res.writableFinished && gone.abort());
    soap(ctx, await opts.core.handle(xml, outcome.caller, log, gone.signal));
    if (gone.signal.aborted) log.info({ event: 'client_gone' });
  });

  router.post('/wsman-anon', async (ctx) => {
    const xml = await body(ctx);
    if (xml !== undefined) soap(ctx, opts.core.identifyAnonymous(xml, ctx.state.log));
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  app.use(router.routes());
  return app;
}
