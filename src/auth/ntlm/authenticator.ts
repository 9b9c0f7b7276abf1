// NTLM over HTTP (MS-NTHT, winrm-wire.md "Authentication"), offered under both Negotiate and NTLM.
// The handshake and the session it sets up belong to the TCP connection: requests after the third
// leg carry no Authorization header. That state lives here, keyed by the socket, and never reaches
// the protocol core, which sees only a Caller.
import type { UserStore } from '../../store/users.js';
import { callerOf, localUserName, type AuthOutcome, type AuthRequest, type Authenticator, type MessageSecurity } from '../authenticator.js';
import { connectionBindings } from '../channel-binding.js';
import { accept, challenge, NtlmRefused, type ChannelBindingLevel, type PendingHandshake } from './acceptor.js';
import { F, messageType, NtlmFormatError, parseAuthenticate } from './messages.js';
import { NtlmSession } from './session.js';

export interface NtlmOptions {
  users: UserStore;
  allowUnencrypted: boolean;
  channelBinding: ChannelBindingLevel;
  netbiosName: string;
  dnsName: string;
  /** How long a CHALLENGE stays answerable. */
  handshakeTimeoutMs?: number;
}

type ConnectionState =
  | { phase: 'challenged'; pending: PendingHandshake }
  | { phase: 'established'; user: string; security?: MessageSecurity };

/** NTProofStrs seen recently: an AUTHENTICATE is accepted once (a replay refusal that does not depend on the connection). */
const REPLAY_MEMORY = 100_000;

export class NtlmAuthenticator implements Authenticator {
  readonly method = 'negotiate' as const;
  readonly schemes = ['Negotiate', 'NTLM'] as const;
  private readonly connections = new WeakMap<object, ConnectionState>();
  private readonly seen = new Map<string, number>();

  /** Also how long an NTProofStr is remembered: a replay after it fails against a new challenge anyway. */
  private readonly handshakeTimeoutMs: number;

  constructor(private readonly opts: NtlmOptions) {
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 120_000;
  }

  challenges(): string[] {
    return [...this.schemes];
  }

  private fail(reason: string, extra: { user?: string; counts?: boolean } = {}): AuthOutcome {
    return { ok: false, reason, ...extra };
  }

  async authenticate(req: AuthRequest, credentials: string, scheme: string): Promise<AuthOutcome> {
    const state = this.connections.get(req.connection);
    // Any Authorization header starts over: the connection's previous state is gone either way.
    this.connections.delete(req.connection);
    const token = Buffer.from(credentials, 'base64');
    let type: number;
    try {
      type = messageType(token);
    } catch {
      return this.fail(`${scheme} token is not NTLMSSP`);
    }
    try {
      if (type === 1) {
        const pending = challenge(token, this.opts);
        this.connections.set(req.connection, { phase: 'challenged', pending });
        return { ok: false, reason: 'NTLM challenge sent', challenge: `${scheme} ${pending.challenge.toString('base64')}` };
      }
      if (type !== 3) return this.fail(`unexpected NTLM message type ${type}`);
      return this.complete(req, token, state);
    } catch (err) {
      if (err instanceof NtlmRefused) return this.fail(err.message, { user: err.user, counts: err.credentialFailure });
      if (err instanceof NtlmFormatError) return this.fail(`malformed NTLM message: ${err.message}`);
      throw err;
    }
  }

  private complete(req: AuthRequest, token: Buffer, state: ConnectionState | undefined): AuthOutcome {
    const { user: claimed, ntResponse } = parseAuthenticate(token);
    if (state?.phase !== 'challenged') return this.fail('AUTHENTICATE without a CHALLENGE on this connection', { user: claimed });
    const now = Date.now();
    if (now - state.pending.issuedAt > this.handshakeTimeoutMs) return this.fail('the NTLM challenge expired', { user: claimed });
    const proof = ntResponse.subarray(0, 16).toString('hex'); // NTProofStr: unique per challenge
    this.forgetOldProofs(now);
    if (this.seen.has(proof)) return this.fail('replayed AUTHENTICATE', { user: claimed });

    // One lookup: accept() refuses a user that does not exist, so `user` is set past it.
    const user = this.opts.users.get(localUserName(claimed));
    const accepted = accept({
      pending: state.pending,
      authenticate: token,
      ntHashOf: () => (user?.ntHash ? Buffer.from(user.ntHash, 'hex') : undefined),
      channelBindings: connectionBindings(req.connection),
      level: this.opts.channelBinding,
    });
    this.seen.set(proof, now);
    if (!user) return this.fail('unknown user', { user: claimed, counts: true });

    let security: MessageSecurity | undefined;
    if (accepted.flags & F.SEAL) {
      const session = new NtlmSession(accepted.exportedSessionKey, accepted.flags);
      security = {
        wrap: (plaintext) => session.wrap(plaintext),
        unwrap: (sealed, signature) => session.unwrap(sealed, signature),
        required: !req.secure && !this.opts.allowUnencrypted,
        end: () => this.connections.delete(req.connection),
      };
    } else if (!req.secure && !this.opts.allowUnencrypted) {
      // MS-WSMV 2.2.9.1: over HTTP the messages must be encrypted unless AllowUnencrypted.
      return this.fail('NTLM over HTTP without sealing is refused (allowUnencrypted is false)', { user: claimed });
    }
    this.connections.set(req.connection, { phase: 'established', user: user.name, security });
    return { ok: true, caller: callerOf(user, req.clientAddress), security, password: 'verified' };
  }

  private forgetOldProofs(now: number): void {
    for (const [proof, at] of this.seen) {
      if (now - at <= this.handshakeTimeoutMs && this.seen.size <= REPLAY_MEMORY) break;
      this.seen.delete(proof);
    }
  }

  resume(req: AuthRequest): AuthOutcome | undefined {
    const state = this.connections.get(req.connection);
    if (!state) return undefined;
    if (state.phase === 'challenged') {
      this.connections.delete(req.connection);
      return this.fail('the connection left its NTLM handshake unfinished');
    }
    // The user as stored now: a removed user's connections stop working, a changed runAs applies.
    const user = this.opts.users.get(state.user);
    if (!user) {
      this.connections.delete(req.connection);
      return this.fail(`the connection's user ${state.user} no longer exists`);
    }
    return { ok: true, caller: callerOf(user, req.clientAddress), security: state.security };
  }

  forget(connection: object): void {
    this.connections.delete(connection);
  }
}
