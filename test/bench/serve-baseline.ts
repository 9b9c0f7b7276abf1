// The baseline: a bare node:http server that reads each request body and answers with fixed
// bytes (the Identify reply winrmd sent, handed over by the parent) and winrmd's headers. It is
// the ceiling an HTTP/1.1 server in Node on this machine, driven by this client, can reach.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent, memorySample } from './protocol.js';

interface Init { type: 'init'; id: number; body: string; headers: Record<string, string> }

exitWithParent();

let server: http.Server | undefined;

process.on('message', (m: Init | { type: string; id?: number; gc?: boolean }) => {
  if (m.type === 'init') {
    const init = m as Init;
    const body = Buffer.from(init.body, 'utf8');
    const headers = { ...init.headers, 'Content-Length': String(body.length) };
    server = http.createServer((req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => {
        res.writeHead(200, headers);
        res.end(body);
      });
    });
    // The same keep-alive as winrmd's listener (limits.keepAliveTimeoutMs).
    server.keepAliveTimeout = 300_000;
    server.listen(0, '127.0.0.1', () => {
      process.send!({ type: 'ready', id: init.id, port: (server!.address() as AddressInfo).port });
    });
  } else if (m.type === 'memory') {
    process.send!({ type: 'memory', id: m.id, sample: memorySample(Boolean((m as { gc?: boolean }).gc)) });
  } else if (m.type === 'stop') {
    server?.closeAllConnections();
    server?.close();
    process.exit(0);
  }
});
