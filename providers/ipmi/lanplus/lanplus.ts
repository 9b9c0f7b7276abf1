// The native RMCP+ ("lanplus") transport: one UDP socket, one request in flight, a session opened
// on first use (Get Channel Authentication Capabilities, Open Session, RAKP 1–4, Set Session
// Privilege Level) and opened again when the BMC turns out to have dropped it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { completionCodeText, IpmiError, type IpmiRequest, type IpmiResponse, type IpmiTransport } from '../transport.js';
import { CIPHER_SUITES, type CipherSuite, ConfidentialityError, decrypt, encrypt, rakp2Code, rakp3Code, rakp4Icv, type RakpInputs, sessionKeys } from './cipher.js';
import { decodePacket, decodeResponse, encodeRequest, encodeRmcpp, encodeSessionless, PacketError, PAYLOAD, type RequestMessage, type ResponseMessage, verifyIntegrity } from './packet.js';
import { openSessionRequest, parseOpenSessionResponse, parseRakp2, parseRakp4, rakp1, rakp3, statusText } from './rakp.js';
import { SequenceWindow } from './sequence.js';

export type IpmiPrivilege = 'callback' | 'user' | 'operator' | 'administrator';

/** Privilege levels, as Open Session and RAKP 1 carry them (IPMI 2.0 §13.17, §13.20). */
const PRIVILEGE: Record<IpmiPrivilege, number> = { callback: 1, user: 2, operator: 3, administrator: 4 };
/** RAKP 1 role bit: look the user up by name only, not by name and privilege (§13.20). */
const NAME_ONLY_LOOKUP = 0x10;
/** RAKP 3 status telling the BMC its RAKP 2 did not verify (§13.24). */
const INVALID_INTEGRITY_CHECK_VALUE = 0x0f;
/** A session idle this long may have hit the BMC's inactivity timeout (commonly 60 s): one try, then check. */
const STALE_MS = 30_000;

export interface LanplusOptions {
  host: string;
  /** UDP port, 623 by default. */
  port?: number;
  /** At most 16 bytes. */
  user: string;
  /** At most 20 bytes (IPMI 2.0 passwords). */
  password: string;
  /** BMC key for two-key logins, hex (as `ipmitool -y`, 0x prefix allowed) or raw bytes. Keys the SIK instead of the password. */
  kg?: string | Uint8Array;
  /** The session's privilege level, administrator by default. */
  privilege?: IpmiPrivilege;
  /** 3 (SHA1, AES) by default, or 17 (SHA256, AES). */
  cipherSuite?: 3 | 17;
  /** How long to wait for each answer, 1000 ms by default. */
  timeoutMs?: number;
  /** Retransmissions after the first attempt, 3 by default. */
  retries?: number;
}

interface Session {
  suite: CipherSuite;
  consoleId: number;
  bmcId: number;
  k1: Buffer;
  k2: Buffer;
  /** The next outbound session sequence number; 0 is not used in a session (§6.12.13). */
  sequence: number;
  window: SequenceWindow;
  lastHeard: number;
}

interface Job {
  req: IpmiRequest;
  /** Aborted by the caller's signal or by close(); what the running exchange listens to. */
  abort: AbortController;
  resolve: (r: IpmiResponse) => void;
  reject: (e: unknown) => void;
  detach: () => void;
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};
const nonZero32 = () => randomBytes(4).readUInt32LE(0) || 1;

/** A response answers a request when its rqSeq, netFn (request + 1) and command match (§5.1, §13.8). */
const answers = (r: ResponseMessage, req: RequestMessage, rqSeq: number) => r.rqSeq === rqSeq && r.netFn === (req.netFn | 1) && r.cmd === req.cmd;

export class LanplusTransport implements IpmiTransport {
  private readonly host: string;
  private readonly port: number;
  private readonly userName: string;
  private readonly user: Buffer;
  private readonly kuid: Buffer;
  private readonly kg?: Buffer;
  private readonly privilegeName: IpmiPrivilege;
  private readonly privilege: number;
  private readonly suite: CipherSuite;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly where: string;

  private target?: Promise<{ address: string; family: number }>;
  private address?: string;
  private socket?: Socket;
  private receiver?: (datagram: Buffer) => void;
  private session?: Session;
  private bmcHasKg = false;
  private rqSeq = 0;
  private tag = 0;
  private readonly queue: Job[] = [];
  private current?: Job;
  private pumping?: Promise<void>;
  private closing?: Promise<void>;
  private closed = false;

  constructor(options: LanplusOptions) {
    this.host = options.host;
    this.port = options.port ?? 623;
    this.userName = options.user;
    this.user = Buffer.from(options.user, 'utf8');
    this.kuid = Buffer.from(options.password, 'utf8');
    const kgHex = typeof options.kg === 'string' ? options.kg.replace(/^0x/i, '') : undefined;
    if (kgHex !== undefined && !/^([0-9a-f]{2})*$/i.test(kgHex)) throw new TypeError('IPMI lanplus: the BMC key (Kg) must be hex digits');
    const kg = kgHex !== undefined ? Buffer.from(kgHex, 'hex') : options.kg ? Buffer.from(options.kg as Uint8Array) : undefined;
    // An all-zero Kg is the spec's "no BMC key" (§13.31): Kuid keys the SIK then.
    this.kg = kg && kg.some((b) => b !== 0) ? kg : undefined;
    this.privilegeName = options.privilege ?? 'administrator';
    this.privilege = PRIVILEGE[this.privilegeName];
    this.suite = CIPHER_SUITES[options.cipherSuite ?? 3];
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.retries = options.retries ?? 3;
    this.where = `${isIP(this.host) === 6 ? `[${this.host}]` : this.host}:${this.port}`;
    if (!this.host) throw new TypeError('IPMI lanplus: host is required');
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new RangeError(`IPMI lanplus: port ${this.port} is not a UDP port`);
    if (this.user.length > 16) throw new RangeError('IPMI lanplus: user names are at most 16 bytes');
    if (this.kuid.length > 20) throw new RangeError('IPMI lanplus: passwords are at most 20 bytes');
    if (this.kg && this.kg.length > 20) throw new RangeError('IPMI lanplus: the BMC key (Kg) is at most 20 bytes');
    if (this.privilege === undefined) throw new RangeError(`IPMI lanplus: unknown privilege level ${String(options.privilege)}`);
    if (!this.suite) throw new RangeError(`IPMI lanplus: cipher suite ${String(options.cipherSuite)} is not supported (3 or 17)`);
    if (!(this.timeoutMs > 0)) throw new RangeError('IPMI lanplus: timeoutMs must be positive');
    if (!Number.isInteger(this.retries) || this.retries < 0) throw new RangeError('IPMI lanplus: retries must be a whole number');
  }

  request(req: IpmiRequest, signal?: AbortSignal): Promise<IpmiResponse> {
    if (this.closing) return Promise.reject(new IpmiError('closed', `the IPMI transport to ${this.where} is closed`));
    if (signal?.aborted) return Promise.reject(new IpmiError('closed', 'the IPMI request was aborted'));
    return new Promise((resolve, reject) => {
      // Aborting a queued request takes it out of the queue; a running one is stopped by wait().
      const onAbort = () => {
        const i = this.queue.indexOf(job);
        if (i >= 0) {
          this.queue.splice(i, 1);
          reject(new IpmiError('closed', 'the IPMI request was aborted'));
        }
        job.abort.abort();
      };
      const job: Job = { req, abort: new AbortController(), resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pumping ??= this.pump();
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async pump(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      this.current = job;
      try {
        job.resolve(await this.run(job.req, job.abort.signal));
      } catch (e) {
        job.reject(e);
      } finally {
        job.detach();
        this.current = undefined;
      }
    }
    this.pumping = undefined;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.detach();
      job.reject(new IpmiError('closed', `the IPMI transport to ${this.where} was closed`));
    }
    this.current?.abort.abort();
    await this.pumping;
    const session = this.session;
    this.session = undefined;
    if (session && this.socket) {
      // Close Session (§22.19) with our BMC session id; a BMC that does not answer ends it by its inactivity timeout.
      await this.inSession(session, { netFn: 0x06, cmd: 0x3c, data: le32(session.bmcId) }, new AbortController().signal, Math.min(1, this.retries)).catch(() => undefined);
    }
    this.socket?.close();
    this.socket = undefined;
  }

  private async run(req: IpmiRequest, signal: AbortSignal): Promise<IpmiResponse> {
    let session = this.session;
    const fresh = !session;
    session ??= await this.open(signal);
    const stale = !fresh && Date.now() - session.lastHeard > STALE_MS;
    try {
      return await this.inSession(session, req, signal, stale ? 0 : this.retries);
    } catch (e) {
      if (fresh || !(e instanceof IpmiError) || e.kind === 'closed') throw e;
      // No valid answer inside a session the BMC had been answering: it may have dropped it
      // (restarted, closed it for someone else, timed it out). open() asks outside any session
      // first, so a BMC that is really gone still ends in a timeout; otherwise resend once.
      this.abandon(session);
      return await this.inSession(await this.open(signal), req, signal, this.retries);
    }
  }

  /**
   * Establishes a session and makes it current; throws 'auth' when the BMC refuses, once, without
   * retrying. A handshake that a BMC which answered the capabilities probe stops answering midway
   * starts over with a new session: when a RAKP 4 is lost, the BMC has already activated the
   * session and ignores the resent RAKP 3 (ipmi_sim does), so resending alone cannot succeed.
   */
  private async open(signal: AbortSignal): Promise<Session> {
    this.session = undefined;
    await this.channelAuthCapabilities(signal);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.handshake(signal);
      } catch (e) {
        if (!(e instanceof IpmiError) || e.kind !== 'timeout' || attempt >= this.retries) throw e;
      }
    }
  }

  private async handshake(signal: AbortSignal): Promise<Session> {
    const suite = this.suite;
    const consoleId = nonZero32();
    const tag = (this.tag = (this.tag + 1) & 0xff);
    const setup = <T extends { tag: number; status: number; consoleId: number }>(type: number, parse: (p: Buffer) => T) => (d: Buffer) => {
      const p = decodePacket(d);
      if (p.format !== 'rmcpp' || p.sessionId !== 0 || p.payloadType !== type) return undefined;
      const r = parse(p.payload);
      // A refusal may leave the console session id out; the tag still ties it to our request.
      return r.tag === tag && (r.consoleId === consoleId || (r.status !== 0 && r.consoleId === 0)) ? r : undefined;
    };
    const unsessioned = (payloadType: number, payload: Buffer) => () => encodeRmcpp({ payloadType, sessionId: 0, sequence: 0, payload });

    const opened = await this.exchange('Open Session', unsessioned(PAYLOAD.OPEN_SESSION_REQUEST, openSessionRequest(tag, this.privilege, consoleId, suite)), setup(PAYLOAD.OPEN_SESSION_RESPONSE, parseOpenSessionResponse), signal);
    if (opened.status !== 0) {
      throw new IpmiError(opened.status === 0x01 ? 'protocol' : 'auth', `BMC ${this.where} refused to open a session with cipher suite ${suite.id} at ${this.privilegeName} privilege: ${statusText(opened.status)}`);
    }
    const algorithms = opened.algorithms ?? [];
    if (algorithms[0] !== suite.authentication || algorithms[1] !== suite.integrity || algorithms[2] !== suite.confidentiality) {
      throw new IpmiError('protocol', `BMC ${this.where} answered Open Session with other algorithms than cipher suite ${suite.id}'s`);
    }

    const consoleRandom = randomBytes(16);
    const role = this.privilege | NAME_ONLY_LOOKUP;
    const r2 = await this.exchange('RAKP 1', unsessioned(PAYLOAD.RAKP1, rakp1(tag, opened.bmcId, consoleRandom, role, this.user)), setup(PAYLOAD.RAKP2, parseRakp2), signal);
    if (r2.status !== 0) throw new IpmiError('auth', `BMC ${this.where} refused user "${this.userName}" at ${this.privilegeName} privilege: ${statusText(r2.status)}`);
    const inputs: RakpInputs = { consoleId, bmcId: opened.bmcId, consoleRandom, bmcRandom: r2.bmcRandom, bmcGuid: r2.bmcGuid, role, user: this.user };
    const expected = rakp2Code(suite, this.kuid, inputs);
    if (r2.code.length < expected.length || !timingSafeEqual(r2.code.subarray(0, expected.length), expected)) {
      // Tell the BMC to drop the half-open session, then give up: one attempt, no retry storm.
      this.send(unsessioned(PAYLOAD.RAKP3, rakp3(tag, INVALID_INTEGRITY_CHECK_VALUE, opened.bmcId, Buffer.alloc(0)))());
      throw new IpmiError('auth', `BMC ${this.where} refused user "${this.userName}": wrong password (the RAKP 2 authentication code does not match it)`);
    }

    const keys = sessionKeys(suite, this.kg ?? this.kuid, inputs);
    // A lost RAKP 4 leaves the session active on the BMC, which then ignores a resent RAKP 3
    // (ipmi_sim does). So one resend only; after that the first in-session answer, which must
    // carry an integrity code made with K1 from the SIK, proves the BMC holds the SIK just as
    // RAKP 4 would have.
    const r4 = await this.exchange('RAKP 3', unsessioned(PAYLOAD.RAKP3, rakp3(tag, 0, opened.bmcId, rakp3Code(suite, this.kuid, inputs))), setup(PAYLOAD.RAKP4, parseRakp4), signal, Math.min(1, this.retries))
      .catch((e: unknown) => {
        if (e instanceof IpmiError && e.kind === 'timeout') return undefined;
        throw e;
      });
    if (r4 && r4.status !== 0) throw new IpmiError('auth', `BMC ${this.where} refused user "${this.userName}" at RAKP 3: ${statusText(r4.status)}`);
    const icv = rakp4Icv(suite, keys.sik, inputs);
    if (r4 && (r4.icv.length < icv.length || !timingSafeEqual(r4.icv.subarray(0, icv.length), icv))) {
      const hint = this.kg ? ': wrong BMC key (Kg)?' : this.bmcHasKg ? ': the BMC has a BMC key (Kg) set, configure it' : '';
      throw new IpmiError('auth', `BMC ${this.where}: the RAKP 4 integrity check value does not match for user "${this.userName}"${hint}`);
    }

    const session: Session = { suite, consoleId, bmcId: opened.bmcId, k1: keys.k1, k2: keys.k2, sequence: 1, window: new SequenceWindow(), lastHeard: Date.now() };
    // Sessions start at User privilege (§22.18); raise to the configured level. Without RAKP 4
    // this is also the proof that the session exists.
    if (this.privilege > PRIVILEGE.user || !r4) {
      const r = await this.inSession(session, { netFn: 0x06, cmd: 0x3b, data: Uint8Array.of(this.privilege) }, signal, this.retries).catch((e: unknown) => {
        this.abandon(session);
        throw e;
      });
      if (r.cc !== 0) {
        this.abandon(session);
        throw new IpmiError('auth', `BMC ${this.where} refused ${this.privilegeName} privilege for user "${this.userName}": ${completionCodeText(r.cc)}`);
      }
    }
    this.session = session;
    return session;
  }

  /** Get Channel Authentication Capabilities (§22.13) outside any session: the first contact, and the liveness probe. */
  private async channelAuthCapabilities(signal: AbortSignal): Promise<void> {
    // Channel Eh (this one) with the IPMI v2.0 extended data bit, at the privilege we will ask for.
    const req: RequestMessage = { netFn: 0x06, cmd: 0x38, data: Uint8Array.of(0x8e, this.privilege) };
    const rqSeq = this.nextRqSeq();
    const r = await this.exchange('Get Channel Authentication Capabilities', () => encodeSessionless(encodeRequest(req, rqSeq)), (d) => {
      const p = decodePacket(d);
      let message: Buffer;
      if (p.format === 'ipmi15') message = p.message;
      else if (p.payloadType === PAYLOAD.IPMI && !p.authenticated && !p.encrypted) message = p.payload;
      else return undefined;
      if (p.sessionId !== 0) return undefined;
      const m = decodeResponse(message);
      return answers(m, req, rqSeq) ? m : undefined;
    }, signal);
    // Authentication status bit 5: the BMC has a non-zero Kg (two-key login). Only for a clearer error later.
    this.bmcHasKg = r.cc === 0 && r.data.length >= 3 && Boolean(r.data[2] & 0x20);
  }

  private async inSession(s: Session, req: RequestMessage, signal: AbortSignal, retries: number): Promise<IpmiResponse> {
    const rqSeq = this.nextRqSeq();
    const message = encodeRequest(req, rqSeq);
    // Every transmission, retransmissions included, takes the next sequence number and a fresh IV.
    const r = await this.exchange(`netFn ${hex(req.netFn)} cmd ${hex(req.cmd)}`, () => this.seal(s, message), (d) => {
      const p = decodePacket(d);
      if (p.format !== 'rmcpp' || p.sessionId !== s.consoleId || p.payloadType !== PAYLOAD.IPMI) return undefined;
      if (!p.authenticated || !verifyIntegrity(p, s.suite, s.k1)) throw new PacketError('integrity check value does not verify');
      if (!p.encrypted) throw new PacketError('an unencrypted packet inside an encrypted session');
      if (!s.window.accept(p.sequence)) throw new PacketError(`session sequence number ${p.sequence} is a duplicate or outside the window`);
      const m = decodeResponse(decrypt(s.k2, p.payload));
      // A late answer to an earlier request (another rqSeq) is not this one's.
      return answers(m, req, rqSeq) ? m : undefined;
    }, signal, retries);
    s.lastHeard = Date.now();
    return { cc: r.cc, data: r.data };
  }

  /** Sends Close Session once without waiting: for a session we are leaving behind. */
  private abandon(s: Session): void {
    if (this.session === s) this.session = undefined;
    this.send(this.seal(s, encodeRequest({ netFn: 0x06, cmd: 0x3c, data: le32(s.bmcId) }, this.nextRqSeq())));
  }

  /** An IPMI message in the session (§13.6): encrypted with K2, authenticated with K1, under the next sequence number. */
  private seal(s: Session, message: Buffer): Buffer {
    const sequence = s.sequence;
    s.sequence = (s.sequence + 1) >>> 0 || 1;
    return encodeRmcpp({ payloadType: PAYLOAD.IPMI, sessionId: s.bmcId, sequence, payload: encrypt(s.k2, message), encrypted: true, integrity: { suite: s.suite, k1: s.k1 } });
  }

  /**
   * Sends build()'s packet and waits for the first datagram match() accepts, retransmitting a newly
   * built packet after each timeout. Datagrams match() rejects as malformed are noted: if nothing
   * valid came, the error says so instead of "did not answer".
   */
  private async exchange<T>(what: string, build: () => Buffer, match: (d: Buffer) => T | undefined, signal: AbortSignal, retries = this.retries): Promise<T> {
    await this.connect();
    let rejected: string | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      this.send(build());
      const got = await this.wait(match, signal, (why) => (rejected = why));
      if (got !== undefined) return got;
    }
    const tries = `${retries + 1} attempt${retries ? 's' : ''}, ${this.timeoutMs} ms each`;
    if (rejected) throw new IpmiError('protocol', `BMC ${this.where} answered ${what} only with unusable packets (${rejected}; ${tries})`);
    throw new IpmiError('timeout', `BMC ${this.where} did not answer ${what} (${tries})`);
  }

  private wait<T>(match: (d: Buffer) => T | undefined, signal: AbortSignal, note: (why: string) => void): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.receiver = undefined;
      };
      // A ref'd timer keeps Node alive while a request is in flight; the socket itself is unref'd.
      const timer = setTimeout(() => {
        finish();
        resolve(undefined);
      }, this.timeoutMs);
      const onAbort = () => {
        finish();
        reject(new IpmiError('closed', this.closed ? `the IPMI transport to ${this.where} was closed` : 'the IPMI request was aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.receiver = (d) => {
        let got: T | undefined;
        try {
          got = match(d);
        } catch (e) {
          if (e instanceof PacketError || e instanceof ConfidentialityError) return note(e.message);
          finish();
          return reject(e);
        }
        if (got !== undefined) {
          finish();
          resolve(got);
        }
      };
    });
  }

  /** Creates the socket on first use; it is unref'd so an idle transport never keeps Node alive. */
  private async connect(): Promise<void> {
    if (this.socket) return;
    this.target ??= isIP(this.host)
      ? Promise.resolve({ address: this.host, family: isIP(this.host) })
      : lookup(this.host).catch((e: NodeJS.ErrnoException) => {
          this.target = undefined;
          throw new IpmiError('timeout', `BMC host ${this.host} could not be resolved (${e.code ?? e.message})`);
        });
    const { address, family } = await this.target;
    if (this.socket) return;
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (d, from) => {
      if (from.address === this.address && from.port === this.port) this.receiver?.(d);
    });
    // Send failures surface as lost packets (retransmission, then the timeout); nothing else is expected.
    socket.on('error', () => undefined);
    socket.unref();
    this.address = address;
    this.socket = socket;
  }

  private send(packet: Buffer): void {
    this.socket?.send(packet, this.port, this.address, () => undefined);
  }

  private nextRqSeq(): number {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    return this.rqSeq;
  }
}
