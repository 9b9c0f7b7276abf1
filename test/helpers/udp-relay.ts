// A UDP relay on 127.0.0.1 between one client and one server that records every datagram and drops
// the ones a rule picks: packet loss on cue, and a count of what crossed, for the IPMI tests.
import { createSocket } from 'node:dgram';

export type Direction = 'up' | 'down'; // up: client to server; down: server to client

export interface Relayed {
  direction: Direction;
  /** 0-based, per direction. */
  index: number;
  data: Buffer;
  dropped: boolean;
}

export type DropRule = (p: Relayed) => boolean;

export interface UdpRelay {
  /** Where the client sends. */
  port: number;
  packets: Relayed[];
  /** Replaceable at any time. */
  drop: DropRule;
  close(): Promise<void>;
}

/** Drops every nth datagram in both directions together (n = 3: the 3rd, 6th, 9th …). */
export const everyNth = (n: number): DropRule => {
  let count = 0;
  return () => ++count % n === 0;
};

export async function startUdpRelay(target: { host: string; port: number }, drop: DropRule = () => false): Promise<UdpRelay> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  const counts: Record<Direction, number> = { up: 0, down: 0 };
  let client: { address: string; port: number } | undefined;
  const relay: UdpRelay = {
    port: 0,
    packets: [],
    drop,
    close: () => Promise.all([front, back].map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
  const pass = (direction: Direction, data: Buffer) => {
    const p: Relayed = { direction, index: counts[direction]++, data, dropped: false };
    p.dropped = relay.drop(p);
    relay.packets.push(p);
    return !p.dropped;
  };
  front.on('message', (data, from) => {
    client = { address: from.address, port: from.port };
    if (pass('up', data)) back.send(data, target.port, target.host);
  });
  back.on('message', (data) => {
    if (client && pass('down', data)) front.send(data, client.port, client.address);
  });
  await Promise.all([front, back].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
  relay.port = front.address().port;
  return relay;
}
