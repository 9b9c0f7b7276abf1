// The control socket: how `winrmd session list|end` reach the running server. A Unix socket in the
// private state folder (0700, the socket 0600): only winrmd's own account reaches it, and nothing
// on the network does. One JSON request per connection, one JSON reply.
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A live session as `winrmd session list` shows it. */
export interface LiveSession {
  kind: 'shell' | 'subscription';
  id: string;
  user: string;
  from?: string;
  since: string;
  detail: string;
}

export interface ControlHandlers {
  sessions(): LiveSession[];
  /** Ends the session of this id; false when there is none. */
  end(id: string): Promise<boolean>;
}

export type ControlRequest = { cmd: 'sessions' } | { cmd: 'end'; id: string };

export const controlPath = (stateDir: string): string => path.join(stateDir, 'control.sock');

export async function serveControl(file: string, h: ControlHandlers): Promise<{ close(): Promise<void> }> {
  rmSync(file, { force: true }); // a socket left by a server that is gone
  const server = net.createServer((socket) => {
    let input = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (d: string) => {
      input += d;
      if (input.length > 4096) return void socket.destroy();
      if (!input.includes('\n')) return;
      void (async () => {
        let reply: unknown;
        try {
          const req = JSON.parse(input.slice(0, input.indexOf('\n'))) as ControlRequest;
          reply = req.cmd === 'sessions' ? { sessions: h.sessions() } : req.cmd === 'end' && typeof req.id === 'string' ? { ended: await h.end(req.id) } : { error: 'unknown request' };
        } catch {
          reply = { error: 'not a request' };
        }
        socket.end(`${JSON.stringify(reply)}\n`);
      })();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, resolve);
  });
  chmodSync(file, 0o600);
  return { close: () => new Promise<void>((r) => server.close(() => r())) };
}

export function askControl(file: string, req: ControlRequest): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(file);
    let out = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server did not answer')));
    socket.on('connect', () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on('data', (d: string) => (out += d));
    socket.on('end', () => {
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch {
        reject(new Error('the server answered something else'));
      }
    });
    socket.on('error', reject);
  });
}
