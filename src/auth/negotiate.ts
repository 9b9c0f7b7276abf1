// HTTP Negotiate (RFC 4559, MS-NTHT): one security context per TCP connection, set up by a GSS-API
// mechanism either inside SPNEGO (RFC 4178; pypsrp and every Windows client) or bare, as pywinrm
// and the Go client send raw NTLMSSP under Negotiate and NTLM. SPNEGO picks the mechanism; each
// mechanism (NTLM now, Kerberos later) is one Mechanism. The context's state lives here, keyed by
// the socket, and never reaches the protocol core, which sees only a Caller.
import { credentialOf, type UserRecord, type UserStore } from '../store/users.js';
import { callerOf, type AuthOutcome, type AuthRequest, type Authenticator, type MessageSecurity } from './authenticator.js';
import { encodeNegTokenResp, isSpnego, NEG_STATE, parseNegotiationToken, SpnegoFormatError, type NegTokenResp } from './spnego.js';

/** The security context a finished handshake leaves. */
export interface MechSession {
  /** Per-message sealing (MS-WSMV 2.2.9.1), when the handshake negotiated confidentiality. */
  readonly sealing?: Pick<MessageSecurity, 'wrap' | 'unwrap'>;
  /** Our mechListMIC over the client's MechTypeList DER (RFC 4178 §5), as this mechanism makes it under SPNEGO. */
  mechListMic(mechTypes: Buffer): Buffer;
  /** Checks the client's mechListMIC; throws MechRefused when it does not verify. */
  verifyMechListMic(mechTypes: Buffer, mic: Buffer): void;
}

export type MechStep =
  | { done: false; token: Buffer }
  /** `stored: false`: a principal that is not in the user store (a Kerberos machine principal, an event source). */
  | { done: true; token?: Buffer; user: UserRecord; stored?: boolean; session: MechSession; password?: 'verified' };

/** One handshake of one mechanism on one connection (GSS_Accept_sec_context, leg by leg). */
export interface MechContext {
  /** Throws MechRefused for anything it will not accept, never anything else for bad input. */
  step(token: Buffer): MechStep;
}

export interface Mechanism {
  readonly oid: string;
  /** For log lines: 'NTLM', 'Kerberos'. */
  readonly name: string;
  /** Whether a Negotiate token is this mechanism's own, sent without SPNEGO (NTLMSSP's signature). */
  bare?(token: Buffer): boolean;
  start(req: AuthRequest): MechContext;
}

/** A refused token: the reason is for the log; `counts` when a checked credential was wrong (lockout). */
export class MechRefused extends Error {
  constructor(reason: string, readonly user?: string, readonly counts = false) {
    super(reason);
  }
}

export interface NegotiateOptions {
  /** In the server's order of preference; SPNEGO takes the client's first choice among them. */
  mechanisms: Mechanism[];
  users: UserStore;
  allowUnencrypted: boolean;
}

interface Spnego {
  phase: 'spnego';
  mech: Mechanism;
  context: MechContext;
  /** The client's MechTypeList DER, which both mechListMICs cover. */
  mechTypes: Buffer;
  /** RFC 4178 §5: a mechanism other than the client's first choice needs the mechListMIC exchange. */
  micRequired: boolean;
}

type ConnectionState =
  | { phase: 'bare'; mech: Mechanism; context: MechContext }
  | Spnego
  /**
   * `credential`: the user's stored secrets when the handshake verified them; a new password ends
   * the connection. `principal`: the identity of a principal that is not in the store.
   */
  | { phase: 'established'; user: string; credential: string; principal?: UserRecord; security?: MessageSecurity };

const fail = (reason: string, extra: { user?: string; counts?: boolean } = {}): AuthOutcome => ({ ok: false, reason, ...extra });
const b64 = (token: Buffer) => token.toString('base64');

export class NegotiateAuthenticator implements Authenticator {
  readonly method = 'negotiate' as const;
  readonly schemes: readonly string[];
  private readonly connections = new WeakMap<object, ConnectionState>();

  constructor(private readonly opts: NegotiateOptions) {
    // MS-NTHT: bare NTLMSSP is offered under its own scheme name too; Windows event forwarders in a
    // domain send bare Kerberos under `Kerberos` (MS-WSMV 2.2.9.1.2).
    this.schemes = ['Negotiate', ...(opts.mechanisms.some((m) => m.name === 'NTLM') ? ['NTLM'] : []), ...(opts.mechanisms.some((m) => m.name === 'Kerberos') ? ['Kerberos'] : [])];
  }

  challenges(): string[] {
    return [...this.schemes];
  }

  async authenticate(req: AuthRequest, credentials: string, scheme: string): Promise<AuthOutcome> {
    const state = this.connections.get(req.connection);
    // Any Authorization header starts over: the connection's previous state is gone either way.
    this.connections.delete(req.connection);
    const token = Buffer.from(credentials, 'base64');
    try {
      const bare = this.opts.mechanisms.find((m) => m.bare?.(token));
      if (bare) return this.bare(req, scheme, bare, token, state);
      if (scheme.toLowerCase() === 'negotiate' && isSpnego(token)) return this.spnego(req, scheme, token, state);
      return fail(`${scheme} token is neither SPNEGO nor a mechanism's own (NTLMSSP)`);
    } catch (err) {
      if (err instanceof MechRefused) return fail(err.message, { user: err.user, counts: err.counts });
      if (err instanceof SpnegoFormatError) return fail(`malformed SPNEGO token: ${err.message}`);
      throw err;
    }
  }

  private bare(req: AuthRequest, scheme: string, mech: Mechanism, token: Buffer, state: ConnectionState | undefined): AuthOutcome {
    const context = state?.phase === 'bare' && state.mech === mech ? state.context : mech.start(req);
    const step = context.step(token);
    if (!step.done) {
      this.connections.set(req.connection, { phase: 'bare', mech, context });
      return { ok: false, reason: `${mech.name} challenge sent`, challenge: `${scheme} ${b64(step.token)}` };
    }
    return this.establish(req, mech, step, step.token && `${scheme} ${b64(step.token)}`);
  }

  private spnego(req: AuthRequest, scheme: string, token: Buffer, state: ConnectionState | undefined): AuthOutcome {
    const negotiation = parseNegotiationToken(token);
    if ('init' in negotiation) {
      const { mechTypes, mechTypesDer, mechToken, mechListMIC } = negotiation.init;
      // RFC 4178 §3.2: the acceptor takes the first mechanism of the client's list that it supports.
      const mech = mechTypes.map((oid) => this.opts.mechanisms.find((m) => m.oid === oid)).find((m) => m !== undefined);
      if (!mech) return fail(`SPNEGO offers no mechanism winrmd supports (${mechTypes.join(', ')})`);
      const first = mech.oid === mechTypes[0];
      const s: Spnego = { phase: 'spnego', mech, context: mech.start(req), mechTypes: mechTypesDer, micRequired: !first };
      // RFC 4178 §3.2: an optimistic mechToken belongs to the client's first choice; for another
      // mechanism the acceptor names it (supportedMech) and the client sends that one's first token.
      if (!first || !mechToken) return this.next(req, scheme, s, { negState: NEG_STATE.acceptIncomplete, supportedMech: mech.oid });
      return this.step(req, scheme, s, mechToken, mechListMIC, true);
    }
    const { negState, responseToken, mechListMIC } = negotiation.resp;
    if (state?.phase !== 'spnego') return fail('SPNEGO NegTokenResp without a NegTokenInit on this connection');
    if (negState === NEG_STATE.reject) return fail('the client rejected the SPNEGO negotiation');
    if (!responseToken) return fail('SPNEGO NegTokenResp without a responseToken');
    return this.step(req, scheme, state, responseToken, mechListMIC, false);
  }

  private next(req: AuthRequest, scheme: string, s: Spnego, resp: NegTokenResp): AuthOutcome {
    this.connections.set(req.connection, s);
    return { ok: false, reason: 'SPNEGO challenge sent', challenge: `${scheme} ${b64(encodeNegTokenResp(resp))}` };
  }

  private step(req: AuthRequest, scheme: string, s: Spnego, token: Buffer, mechListMIC: Buffer | undefined, first: boolean): AuthOutcome {
    const step = s.context.step(token);
    // RFC 4178 §4.2.2: supportedMech only in the acceptor's first reply.
    const supportedMech = first ? s.mech.oid : undefined;
    if (!step.done) return this.next(req, scheme, s, { negState: NEG_STATE.acceptIncomplete, supportedMech, responseToken: step.token });
    // RFC 4178 §5: a client's mechListMIC is checked and answered with ours; without one, only the
    // client's first choice stands (the MIC is what protects the list from a downgrade).
    let mic: Buffer | undefined;
    if (mechListMIC) {
      step.session.verifyMechListMic(s.mechTypes, mechListMIC);
      mic = step.session.mechListMic(s.mechTypes);
    } else if (s.micRequired) {
      return fail(`SPNEGO without a mechListMIC, though ${s.mech.name} was not the client's first choice`, { user: step.user.name });
    }
    const done = encodeNegTokenResp({ negState: NEG_STATE.acceptCompleted, supportedMech, responseToken: step.token, mechListMIC: mic });
    return this.establish(req, s.mech, step, `${scheme} ${b64(done)}`);
  }

  private establish(req: AuthRequest, mech: Mechanism, step: MechStep & { done: true }, mutualToken: string | undefined): AuthOutcome {
    const { user, session } = step;
    let security: MessageSecurity | undefined;
    if (session.sealing) {
      security = {
        ...session.sealing,
        required: !req.secure && !this.opts.allowUnencrypted,
        end: () => this.connections.delete(req.connection),
      };
    } else if (!req.secure && !this.opts.allowUnencrypted) {
      // MS-WSMV 2.2.9.1: over HTTP the messages must be encrypted unless AllowUnencrypted.
      return fail(`${mech.name} over HTTP without sealing is refused (allowUnencrypted is false)`, { user: user.name });
    }
    this.connections.set(req.connection, { phase: 'established', user: user.name, credential: credentialOf(user), security, ...(step.stored === false ? { principal: user } : {}) });
    return { ok: true, caller: callerOf(user, req.clientAddress), security, password: step.password, mutualToken };
  }

  resume(req: AuthRequest): AuthOutcome | undefined {
    const state = this.connections.get(req.connection);
    if (!state) return undefined;
    if (state.phase !== 'established') {
      this.connections.delete(req.connection);
      return fail(`the connection left its ${state.mech.name} handshake unfinished`);
    }
    if (state.principal) return { ok: true, caller: callerOf(state.principal, req.clientAddress), security: state.security };
    // The user as stored now: a removed user's connections stop working, a changed runAs applies.
    const user = this.opts.users.get(state.user);
    if (!user) {
      this.connections.delete(req.connection);
      return fail(`the connection's user ${state.user} no longer exists`);
    }
    if (credentialOf(user) !== state.credential) {
      this.connections.delete(req.connection);
      return fail(`the password of ${state.user} changed since the connection authenticated`);
    }
    return { ok: true, caller: callerOf(user, req.clientAddress), security: state.security };
  }

  forget(connection: object): void {
    this.connections.delete(connection);
  }
}
