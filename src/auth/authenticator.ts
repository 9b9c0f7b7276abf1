// Who is calling? Authenticators sit behind one interface (DESIGN.md principle 8) so that NTLM's
// connection-bound state and client certificates plug in beside Basic without touching the
// protocol core. There is no anonymous or default caller anywhere: a request either yields a
// Caller from a verified credential or is answered 401 (the OMIGOD lesson, security-and-limits.md).
import type { Caller } from '../provider-api.js';

export interface AuthRequest {
  authorization: string | undefined;
  /** Whether the request arrived over TLS. */
  secure: boolean;
  clientAddress: string;
  /** The connection, for authenticators whose state is bound to it (NTLM). */
  connection: object;
}

export type AuthOutcome =
  | { ok: true; caller: Caller }
  /** `reason` goes to the log only: a refused caller gets no hint of why. */
  | { ok: false; reason: string; challenge?: string };

export interface Authenticator {
  /** The HTTP authentication scheme, compared case-insensitively (RFC 7235 §2.1). */
  readonly scheme: string;
  /** WWW-Authenticate values offered on a 401 for this transport. */
  challenges(secure: boolean): string[];
  authenticate(req: AuthRequest, credentials: string): Promise<AuthOutcome>;
}

export class AuthService {
  constructor(private readonly authenticators: Authenticator[]) {}

  challenges(secure: boolean): string[] {
    return this.authenticators.flatMap((a) => a.challenges(secure));
  }

  async authenticate(req: AuthRequest): Promise<AuthOutcome> {
    const header = req.authorization?.trim();
    if (!header) return { ok: false, reason: 'no Authorization header' };
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const authenticator = this.authenticators.find((a) => a.scheme.toLowerCase() === scheme);
    if (!authenticator) return { ok: false, reason: `unsupported scheme ${scheme}` };
    return authenticator.authenticate(req, space === -1 ? '' : header.slice(space + 1).trim());
  }
}
