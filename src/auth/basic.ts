// HTTP Basic (RFC 7617) against the local user store. Refused over plain HTTP unless the
// configuration allows unencrypted traffic, as WinRM's AllowUnencrypted does.
import { hash, randomBytes } from 'node:crypto';
import type { UserStore } from '../store/users.js';
import { callerOf, localUserName, type AuthOutcome, type AuthRequest, type Authenticator } from './authenticator.js';
import { hashPassword, verifyPassword } from './passwords.js';

export interface BasicOptions {
  users: UserStore;
  allowUnencrypted: boolean;
  /** How long a verified credential is remembered, so scrypt runs once per client and not per request. */
  cacheMs?: number;
}

const CACHE_LIMIT = 10_000;
/** RFC 7617 §2: the credentials are one token68, here base64 (RFC 4648 §4), and nothing after it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** `user:password` from Basic credentials, or undefined when they are not exactly that. */
function userPass(credentials: string): { name: string; password: string } | undefined {
  if (!credentials || !BASE64.test(credentials)) return undefined;
  const bytes = Buffer.from(credentials, 'base64');
  let decoded: string;
  try {
    decoded = UTF8.decode(bytes);
  } catch {
    // RFC 7617 §2.1 leaves the charset to the client when the server names none: requests (pywinrm) sends Latin-1.
    decoded = bytes.toString('latin1');
  }
  const colon = decoded.indexOf(':');
  return colon > 0 ? { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) } : undefined;
}

export class BasicAuthenticator implements Authenticator {
  readonly method = 'basic' as const;
  readonly schemes = ['Basic'];
  /** Salted digests of (user, password, stored hash) that verified recently; never the password. */
  private readonly verified = new Map<string, number>();
  /** Salts the digests so that a heap dump's entries cannot be matched against guessed passwords without it. */
  private readonly cacheSalt = randomBytes(32).toString('base64');
  private readonly dummyHash = hashPassword(randomBytes(16).toString('base64'));

  constructor(private readonly opts: BasicOptions) {}

  /** Not offered where it would be refused anyway (HTTP without allowUnencrypted). */
  challenges(secure: boolean): string[] {
    return secure || this.opts.allowUnencrypted ? ['Basic realm="WSMAN"'] : [];
  }

  async authenticate(req: AuthRequest, credentials: string): Promise<AuthOutcome> {
    if (!req.secure && !this.opts.allowUnencrypted) return { ok: false, reason: 'Basic over unencrypted HTTP is refused (allowUnencrypted is false)' };
    const given = userPass(credentials);
    if (!given) return { ok: false, reason: 'malformed Basic credentials' };
    const { name, password } = given;
    if (!password) return { ok: false, reason: 'empty password', user: name };
    const user = this.opts.users.get(localUserName(name));
    if (!user) {
      // Spend the same scrypt time as for a known user, so timing does not reveal who exists.
      await verifyPassword(password, await this.dummyHash);
      return { ok: false, reason: 'unknown user', user: name, counts: true };
    }

    // A lookup key, never shown to anyone: salted SHA-256 in one call (an HMAC object costs 4x as much per request).
    const digest = hash('sha256', `${this.cacheSalt}\0${user.name}\0${password}\0${user.passwordHash}`, 'base64');
    const until = this.verified.get(digest);
    const cached = Boolean(until && until > Date.now());
    if (!cached) {
      if (!(await verifyPassword(password, user.passwordHash))) return { ok: false, reason: 'wrong password', user: user.name, counts: true };
      if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
      this.verified.set(digest, Date.now() + (this.opts.cacheMs ?? 300_000));
    }
    return { ok: true, caller: callerOf(user, req.clientAddress), password: cached ? 'cached' : 'verified' };
  }
}
