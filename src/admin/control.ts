// The control socket: how `winrmd session list|end` reach the running server (and `winrmd lab ctl`
// the running lab). A Unix socket in the private state folder (0700, the socket 0600): only
// winrmd's own account reaches it, and nothing on the network does. One JSON request per
// connection, one JSON reply.
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A live session as `winrmd session list` shows it. */
export interface LiveSession {
  kind: 'shell' | 'subscription' | 'enumeration' | 'event-source';
  id: string;
  /** Who holds it: a user, or for an event source the source's name (its principal). */
  user: string;
  from?: string;
  since: string;
  detail: string;
}

/** What `winrmd session end` did: ended it, found none of this id, or found one that cannot be ended from here (and why). */
export type EndOutcome = { ended: true } | { ended: false; refused?: string };

export interface ControlHandlers {
  sessions(): Promise<LiveSession[]>;
  end(id: string): Promise<EndOutcome>;
}

export type ControlRequest = { cmd: 'sessions' } | { cmd: 'end'; id: string };

export const controlPath = (stateDir: string): string => path.join(stateDir, 'control.sock');

/** The sessions' requests answered by their handlers. */
export function sessionControl(h: ControlHandlers): (req: Record<string, unknown>) => Promise<unknown> {
  return async (req) => (req.cmd === 'sessions' ? { sessions: await h.sessions() } : req.cmd === 'end' && typeof req.id === 'string' ? h.end(req.id) : { error: 'unknown request' });
}

/** Serves one JSON request per connection on a 0600 Unix socket, answered by `answer`. */
export async function serveControl(file: string, answer: (req: Record<string, unknown>) => Promise<unknown>): Promise<{ close(): Promise<void> }> {
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
        let req: Record<string, unknown> | undefined;
        let reply: unknown;
        try {
          const parsed: unknown = JSON.parse(input.slice(0, input.indexOf('\n')));
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) req = parsed as Record<string, unknown>;
          else reply = { error: 'not a request' };
        } catch {
          reply = { error: 'not a request' };
        }
        try {
          if (req) reply = await answer(req);
        } catch (err) {
          reply = { error: (err as Error).message }; // the collector's store unreachable, say
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

export function askControl(file: string, req: ControlRequest | Record<string, unknown>): Promise<Record<string, unknown>> {
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
