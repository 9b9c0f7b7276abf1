// A tiny RMCP+ BMC over real UDP on 127.0.0.1, for what ipmi_sim cannot do (cipher suite 17, a BMC
// key) or cannot be made to do on cue (stale answers, replays, forgetting sessions). Its crypto is
// written out here from the spec's field lists, apart from the implementation under test.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface FakeUser {
  name: string;
  password: string;
  /** Highest privilege the user may take: 1 callback … 4 administrator. */
  privilege: number;
}

export interface FakeBmcOptions {
  suite: 3 | 17;
  users: FakeUser[];
  kg?: Buffer;
}

/** What the fake saw, in order. */
export interface Seen {
  kind: 'gcac' | 'open' | 'rakp1' | 'rakp3' | 'ipmi' | 'stray';
  netFn?: number;
  cmd?: number;
  rqSeq?: number;
  sequence?: number;
  status?: number;
  data?: Buffer;
}

export interface InSession {
  netFn: number;
  cmd: number;
  rqSeq: number;
  data: Buffer;
  /** Builds the response packet; options override what a well-behaved BMC would put. */
  build(cc: number, data?: number[] | Buffer, o?: { rqSeq?: number; sequence?: number }): Buffer;
  send(packet: Buffer): void;
}

interface FakeSession {
  consoleId: number;
  bmcId: number;
  bmcRandom: Buffer;
  consoleRandom?: Buffer;
  role?: number;
  user?: FakeUser;
  userName?: Buffer;
  k1?: Buffer;
  k2?: Buffer;
  out: number;
}

const DEVICE_ID = Buffer.from('200181020002bf57010001020304', 'hex');
const GUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const sum = (b: Buffer) => b.reduce((a, x) => (a + x) & 0xff, 0);
const cks = (b: Buffer) => (0x100 - sum(b)) & 0xff;

export class FakeBmc {
  port = 0;
  readonly seen: Seen[] = [];
  /** Called for each in-session request; return true when it replied (or chose not to) itself. */
  onRequest?: (m: InSession) => boolean | void;
  private socket?: Socket;
  private readonly sessions = new Map<number, FakeSession>();
  private readonly hash: 'sha1' | 'sha256';
  private readonly icv: number;

  constructor(private readonly o: FakeBmcOptions) {
    this.hash = o.suite === 17 ? 'sha256' : 'sha1';
    this.icv = o.suite === 17 ? 16 : 12;
  }

  async start(port = 0): Promise<void> {
    const socket = createSocket('udp4');
    socket.on('message', (d, from) => this.handle(d, from));
    await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
    this.port = socket.address().port;
    this.socket = socket;
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }

  /** As if the BMC restarted: every session is gone, and packets for them are dropped. */
  forgetSessions(): void {
    this.sessions.clear();
  }

  get activeSessions(): number {
    return [...this.sessions.values()].filter((s) => s.k1).length;
  }

  count(kind: Seen['kind'], cmd?: number): number {
    return this.seen.filter((s) => s.kind === kind && (cmd === undefined || s.cmd === cmd)).length;
  }

  private mac(key: Buffer, ...parts: Buffer[]): Buffer {
    return createHmac(this.hash, key).update(Buffer.concat(parts)).digest();
  }

  private handle(d: Buffer, from: RemoteInfo): void {
    const reply = (b: Buffer) => this.socket?.send(b, from.port, from.address);
    if (d.length < 5 || d.readUInt32BE(0) !== 0x0600ff07) return;
    if (d[4] === 0x00) return this.sessionless(d, reply);
    if (d[4] !== 0x06) return;
    const type = d[5] & 0x3f;
    const sid = d.readUInt32LE(6);
    const sequence = d.readUInt32LE(10);
    const len = d.readUInt16LE(14);
    const payload = d.subarray(16, 16 + len);
    if (sid === 0 && type === 0x10) return this.openSession(payload, reply);
    if (sid === 0 && type === 0x12) return this.rakp1(payload, reply);
    if (sid === 0 && type === 0x14) return this.rakp3(payload, reply);
    const s = this.sessions.get(sid);
    if (type !== 0x00 || !s?.k1 || !s.k2) {
      this.seen.push({ kind: 'stray', sequence }); // unknown session: dropped without a word, as ipmi_sim does
      return;
    }
    const code = d.subarray(d.length - this.icv);
    if (!this.mac(s.k1, d.subarray(4, d.length - this.icv)).subarray(0, this.icv).equals(code)) return;
    const decipher = createDecipheriv('aes-128-cbc', s.k2.subarray(0, 16), payload.subarray(0, 16)).setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
    const m = plain.subarray(0, plain.length - 1 - plain[plain.length - 1]);
    if (sum(m.subarray(0, 3)) !== 0 || sum(m.subarray(3)) !== 0) return;
    const msg = { netFn: m[1] >> 2, cmd: m[5], rqSeq: m[4] >> 2, data: Buffer.from(m.subarray(6, m.length - 1)) };
    this.seen.push({ kind: 'ipmi', ...msg, sequence });
    const ctx: InSession = {
      ...msg,
      build: (cc, data = [], o = {}) => this.response(s, msg.netFn, msg.cmd, o.rqSeq ?? msg.rqSeq, cc, Buffer.from(data), o.sequence),
      send: reply,
    };
    if (this.onRequest?.(ctx)) return;
    if (msg.netFn === 0x06 && msg.cmd === 0x3b) {
      const priv = msg.data[0] & 0x0f;
      return reply(priv > (s.user?.privilege ?? 0) ? ctx.build(0x81) : ctx.build(0, [priv]));
    }
    if (msg.netFn === 0x06 && msg.cmd === 0x3c) {
      this.sessions.delete(msg.data.readUInt32LE(0));
      return reply(ctx.build(0));
    }
    if (msg.netFn === 0x06 && msg.cmd === 0x01) return reply(ctx.build(0, DEVICE_ID));
    reply(ctx.build(0xc1));
  }

  private response(s: FakeSession, netFn: number, cmd: number, rqSeq: number, cc: number, data: Buffer, sequence?: number): Buffer {
    const head = Buffer.from([0x81, ((netFn | 1) << 2) | 0, 0]);
    head[2] = cks(head.subarray(0, 2));
    const tail = Buffer.concat([Buffer.from([0x20, rqSeq << 2, cmd, cc]), data]);
    const message = Buffer.concat([head, tail, Buffer.from([cks(tail)])]);
    const n = 15 - (message.length % 16);
    const padded = Buffer.concat([message, Buffer.from(Array.from({ length: n }, (_, i) => i + 1)), Buffer.from([n])]);
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', s.k2!.subarray(0, 16), iv).setAutoPadding(false);
    const payload = Buffer.concat([iv, cipher.update(padded), cipher.final()]);
    const header = Buffer.concat([Buffer.from([0x06, 0xc0]), u32(s.consoleId), u32(sequence ?? s.out++), Buffer.from([payload.length & 0xff, payload.length >> 8])]);
    let covered = Buffer.concat([header, payload]);
    const pad = (4 - ((covered.length + 2) % 4)) % 4;
    covered = Buffer.concat([covered, Buffer.alloc(pad, 0xff), Buffer.from([pad, 0x07])]);
    return Buffer.concat([Buffer.from([6, 0, 0xff, 7]), covered, this.mac(s.k1!, covered).subarray(0, this.icv)]);
  }

  private sessionless(d: Buffer, reply: (b: Buffer) => void): void {
    const m = d.subarray(14, 14 + d[13]);
    if (m.length < 7 || m[5] !== 0x38) return;
    this.seen.push({ kind: 'gcac', netFn: m[1] >> 2, cmd: m[5], rqSeq: m[4] >> 2, data: Buffer.from(m.subarray(6, m.length - 1)) });
    const head = Buffer.from([0x81, 0x07 << 2, 0]);
    head[2] = cks(head.subarray(0, 2));
    // channel 1; IPMI v2.0 extended data; Kg status (bit 5); supports IPMI v2.0 connections
    const tail = Buffer.from([0x20, m[4], 0x38, 0x00, 0x01, 0x80, this.o.kg ? 0x20 : 0x00, 0x02, 0, 0, 0, 0]);
    const message = Buffer.concat([head, tail, Buffer.from([cks(tail)])]);
    reply(Buffer.concat([Buffer.from([6, 0, 0xff, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, message.length]), message]));
  }

  private setup(type: number, payload: Buffer): Buffer {
    const header = Buffer.from([6, 0, 0xff, 7, 0x06, type, 0, 0, 0, 0, 0, 0, 0, 0, payload.length & 0xff, payload.length >> 8]);
    return Buffer.concat([header, payload]);
  }

  private openSession(p: Buffer, reply: (b: Buffer) => void): void {
    this.seen.push({ kind: 'open' });
    const want = this.o.suite === 17 ? [3, 4, 1] : [1, 1, 1];
    const consoleId = p.readUInt32LE(4);
    if (p[12] !== want[0] || p[20] !== want[1] || p[28] !== want[2]) return reply(this.setup(0x11, Buffer.from([p[0], 0x11])));
    const bmcId = (randomBytes(4).readUInt32LE(0) | 2) >>> 0;
    this.sessions.set(bmcId, { consoleId, bmcId, bmcRandom: randomBytes(16), out: 1 });
    const r = Buffer.alloc(36);
    r[0] = p[0];
    r[2] = p[1];
    r.writeUInt32LE(consoleId, 4);
    r.writeUInt32LE(bmcId, 8);
    [0, 1, 2].forEach((i) => {
      r[12 + i * 8] = i;
      r[15 + i * 8] = 8;
      r[16 + i * 8] = want[i];
    });
    reply(this.setup(0x11, r));
  }

  private rakp1(p: Buffer, reply: (b: Buffer) => void): void {
    this.seen.push({ kind: 'rakp1' });
    const s = this.sessions.get(p.readUInt32LE(4));
    if (!s) return;
    s.consoleRandom = Buffer.from(p.subarray(8, 24));
    s.role = p[24];
    s.userName = Buffer.from(p.subarray(28, 28 + p[27]));
    s.user = this.o.users.find((u) => u.name === s.userName!.toString() && (s.role! & 0x0f) <= u.privilege);
    const head = Buffer.alloc(8);
    head[0] = p[0];
    head.writeUInt32LE(s.consoleId, 4);
    if (!s.user) {
      head[1] = 0x0d; // unauthorized name
      this.sessions.delete(s.bmcId);
      return reply(this.setup(0x13, head));
    }
    const code = this.mac(Buffer.from(s.user.password), u32(s.consoleId), u32(s.bmcId), s.consoleRandom, s.bmcRandom, GUID, Buffer.from([s.role, s.userName.length]), s.userName);
    reply(this.setup(0x13, Buffer.concat([head, s.bmcRandom, GUID, code])));
  }

  private rakp3(p: Buffer, reply: (b: Buffer) => void): void {
    this.seen.push({ kind: 'rakp3', status: p[1] });
    const s = this.sessions.get(p.readUInt32LE(4));
    if (!s?.user || !s.consoleRandom || !s.userName) return;
    if (p[1] !== 0) {
      this.sessions.delete(s.bmcId); // the console gave up on this session
      return;
    }
    const roleName = Buffer.from([s.role!, s.userName.length]);
    const expected = this.mac(Buffer.from(s.user.password), s.bmcRandom, u32(s.consoleId), roleName, s.userName);
    const head = Buffer.alloc(8);
    head[0] = p[0];
    head.writeUInt32LE(s.consoleId, 4);
    if (!expected.equals(p.subarray(8))) {
      head[1] = 0x0f;
      this.sessions.delete(s.bmcId);
      return reply(this.setup(0x15, head));
    }
    const sik = this.mac(this.o.kg ?? Buffer.from(s.user.password), s.consoleRandom, s.bmcRandom, roleName, s.userName);
    s.k1 = this.mac(sik, Buffer.alloc(20, 1));
    s.k2 = this.mac(sik, Buffer.alloc(20, 2));
    reply(this.setup(0x15, Buffer.concat([head, this.mac(sik, s.consoleRandom, u32(s.bmcId), GUID).subarray(0, this.icv)])));
  }
}
