// Who is calling? Authenticators sit behind one interface (DESIGN.md principle 8) so that NTLM's
// connection-bound state and client certificates sit beside Basic without touching the protocol
// core. There is no anonymous or default caller anywhere: a request either yields a Caller from a
// verified credential (or from the verified handshake of its connection) or is answered 401 (OMI's
// CVE-2021-38647 let a request with no Authorization header run as root).
import type { Caller } from '../provider-api.js';
import type { AuthMethod } from '../wsman/exchange.js';
import type { UserRecord } from '../store/users.js';
import type { FailureThrottle } from './throttle.js';

export interface AuthRequest {
  authorization: string | undefined;
  /** Whether the request arrived over TLS. */
  secure: boolean;
  clientAddress: string;
  /** The connection, for authenticators whose state is bound to it (NTLM) or comes from it (TLS). */
  connection: object;
}

/** Per-message protection a handshake set up (MS-WSMV 2.2.9.1: HTTP message encryption). */
export interface MessageSecurity {
  wrap(plaintext: Buffer): { signature: Buffer; sealed: Buffer };
  /** Throws when the signature does not verify. */
  unwrap(sealed: Buffer, signature: Buffer): Buffer;
  /** Plain messages are refused on this connection (HTTP with allowUnencrypted false). */
  readonly required: boolean;
  /** Ends the connection's security context: its next request must authenticate again. */
  end(): void;
}

export type AuthOutcome =
  | {
      ok: true;
      caller: Caller;
      /** Set by the AuthService: which authenticator accepted the request. */
      method?: AuthMethod;
      security?: MessageSecurity;
      /**
       * How this request proved a password: checked just now ('verified'), or matched one checked
       * recently ('cached'). Absent for a connection already authenticated, or a certificate.
       * Only password proofs are subject to lockout, and only a fresh check clears failures.
       */
      password?: 'verified' | 'cached';
      /**
       * A `WWW-Authenticate` value the reply must carry: the handshake's last token, such as
       * SPNEGO's accept-completed NegTokenResp with the mechListMIC (RFC 4178 §5) or, later, a
       * Kerberos AP-REP (RFC 4559 §5). The client needs it to finish its security context.
       */
      mutualToken?: string;
    }
  | {
      ok: false;
      /** For the log only: a refused caller gets no hint of why. */
      reason: string;
      /** A handshake's next leg (a 401 carrying exactly this WWW-Authenticate); not a failure. */
      challenge?: string;
      /** The claimed user, when known. */
      user?: string;
      /** A credential that was checked and is wrong: counts toward lockout. */
      counts?: boolean;
      /** No credential was offered at all: every client's first request, not an attack signal. */
      none?: boolean;
    };

export interface Authenticator {
  /** How the core, the audit trail and the policy name this way of authenticating. */
  readonly method: AuthMethod;
  /** HTTP authentication schemes, compared case-insensitively (RFC 7235 §2.1). */
  readonly schemes: readonly string[];
  /** WWW-Authenticate values offered on a 401 for this transport. */
  challenges(secure: boolean): string[];
  authenticate(req: AuthRequest, credentials: string, scheme: string): Promise<AuthOutcome>;
  /** Connection-bound schemes: the caller this connection already established, for requests with no Authorization header. */
  resume?(req: AuthRequest): AuthOutcome | undefined;
  /** Drop whatever is bound to the connection. */
  forget?(connection: object): void;
}

/** `user`, `DOMAIN\user` and `user@domain` all name the local user `user`. */
export function localUserName(name: string): string {
  const afterSlash = name.slice(name.lastIndexOf('\\') + 1);
  const at = afterSlash.indexOf('@');
  return at > 0 ? afterSlash.slice(0, at) : afterSlash;
}

export function callerOf(user: UserRecord, clientAddress: string): Caller {
  return { user: user.name, runAs: user.runAs, clientAddress, ...(user.eventSource ? { kind: 'event-source' as const } : {}) };
}

export class AuthService {
  constructor(
    private readonly authenticators: Authenticator[],
    private readonly throttle: FailureThrottle,
  ) {}

  challenges(secure: boolean): string[] {
    return this.authenticators.flatMap((a) => a.challenges(secure));
  }

  async authenticate(req: AuthRequest): Promise<AuthOutcome> {
    if (this.throttle.locked({ address: req.clientAddress })) return { ok: false, reason: 'source address locked out after failed attempts' };
    const header = req.authorization?.trim();
    let authenticator: Authenticator | undefined;
    let outcome: AuthOutcome | undefined;
    if (!header) {
      for (authenticator of this.authenticators) if ((outcome = authenticator.resume?.(req))) break;
      if (!outcome) return { ok: false, reason: 'no Authorization header', none: true };
    } else {
      const space = header.indexOf(' ');
      const given = (space === -1 ? header : header.slice(0, space)).toLowerCase();
      for (const a of this.authenticators) {
        const scheme = a.schemes.find((s) => s.toLowerCase() === given);
        if (scheme) {
          authenticator = a;
          outcome = await a.authenticate(req, space === -1 ? '' : header.slice(space + 1).trim(), scheme);
          break;
        }
      }
      // The scheme only, and only when it looks like one: a header without a space may be a bare secret.
      if (!outcome) return { ok: false, reason: `unsupported scheme ${/^[a-z][a-z0-9._-]{0,31}$/.test(given) ? given : '(not shown)'}` };
    }

    if (!outcome.ok) {
      if (outcome.counts) {
        const lockout = this.throttle.failure({ address: req.clientAddress, user: outcome.user && localUserName(outcome.user) });
        if (lockout) return { ...outcome, reason: `${outcome.reason}; ${lockout}` };
      }
      return outcome;
    }
    outcome.method = authenticator!.method;
    if (!outcome.password) return outcome;
    // A correct password does not lift a lockout: the attacker may just have guessed it.
    if (this.throttle.locked({ user: outcome.caller.user })) {
      authenticator?.forget?.(req.connection);
      return { ok: false, reason: 'user locked out after failed attempts' };
    }
    if (outcome.password === 'verified') this.throttle.success({ user: outcome.caller.user });
    return outcome;
  }
}
