// Connection slots against one client that opens many and never authenticates (issue 12, part B
// 2: 300 such connections once held every slot of maxConnections). Each client address may hold at
// most `max` connections that have not yet authenticated; past it, its new ones are closed at once.
// A connection stops counting once a request on it authenticates: a busy fleet behind one address
// (a NAT gateway, Ansible with many forks) is bounded by maxConnections and the per-user quotas.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export class UnauthenticatedSlots {
  private readonly open = new Map<string, number>();
  /** Sockets accepted and not yet authenticated, with the address they count against. */
  private readonly pending = new WeakMap<Socket, string>();

  constructor(
    private readonly max: number,
    private readonly log: Logger,
  ) {}

  /** For the listeners' 'connection' event. */
  readonly accept = (socket: Socket): void => {
    const address = socket.remoteAddress ?? '';
    const n = this.open.get(address) ?? 0;
    if (n >= this.max) {
      socket.destroy();
      return;
    }
    // Logged once each time the address reaches the bound, not for every connection refused.
    if (n + 1 === this.max) this.log.warn({ event: 'unauthenticated_connections_reached', client: address, max: this.max });
    this.open.set(address, n + 1);
    this.pending.set(socket, address);
    socket.once('close', () => this.release(socket));
  };

  /** A request on this connection authenticated: it no longer counts. */
  authenticated(socket: Socket): void {
    // Over HTTPS the request's socket is the TLSSocket; the TCP socket the listener counted is its _parent.
    this.release((socket as Socket & { _parent?: Socket })._parent ?? socket);
  }

  private release(socket: Socket): void {
    const address = this.pending.get(socket);
    if (address === undefined) return;
    this.pending.delete(socket);
    const left = (this.open.get(address) ?? 1) - 1;
    if (left > 0) this.open.set(address, left);
    else this.open.delete(address);
  }
}
