// Who is signed in to the dashboard: a random token in a cookie the browser sends only to this
// origin (`__Host-` prefix: Secure, Path=/, no Domain), over HTTPS, never to scripts (HttpOnly)
// and never with a request another site starts (SameSite=Strict). Each sign-in has its own CSRF
// token, which every form carries and every POST must return. Sign-ins live in memory: a restart
// signs everyone out. They end after idle or absolute time, and at once when the user is removed
// or given a new password (the credential seen at sign-in no longer matches).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Caller } from '../../provider-api.js';

export const COOKIE = '__Host-winrmd-dashboard';
const IDLE_MS = 15 * 60_000;
const ABSOLUTE_MS = 8 * 3_600_000;
const MAX_SIGNINS = 1000;
/** One person's tabs and browsers; a user signing in over and over drops their own oldest, nobody else's. */
const MAX_PER_USER = 5;

export interface SignIn {
  caller: Caller;
  csrf: string;
  /** The user's stored credential at sign-in: a changed one ends the sign-in. */
  credential: string;
  created: number;
  seen: number;
}

export class SignIns {
  private readonly byToken = new Map<string, SignIn>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new sign-in and the cookie that carries it. */
  open(caller: Caller, credential: string): { token: string; cookie: string; signIn: SignIn } {
    const now = this.now();
    const mine = [...this.byToken].filter(([, s]) => s.caller.user.toLowerCase() === caller.user.toLowerCase());
    if (mine.length >= MAX_PER_USER) this.byToken.delete(mine[0]![0]);
    if (this.byToken.size >= MAX_SIGNINS) for (const [token, s] of this.byToken) if (this.expired(s, now)) this.byToken.delete(token);
    // Still full of live sign-ins (a thousand users at once): the oldest goes.
    if (this.byToken.size >= MAX_SIGNINS) this.byToken.delete(this.byToken.keys().next().value!);
    const token = randomBytes(32).toString('base64url');
    const signIn: SignIn = { caller, credential, csrf: randomBytes(32).toString('base64url'), created: this.now(), seen: this.now() };
    this.byToken.set(token, signIn);
    return { token, signIn, cookie: `${COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict` };
  }

  private expired(s: SignIn, now: number): boolean {
    return now - s.seen > IDLE_MS || now - s.created > ABSOLUTE_MS;
  }

  /**
   * The live sign-in a Cookie header carries, undefined when none. Its idle time is renewed
   * unless the request is a page reloading itself (`renew` false): an open tab nobody looks at
   * still signs out after the idle time.
   */
  find(cookieHeader: string | undefined, credentialNow: (user: string) => string | undefined, renew = true): SignIn | undefined {
    const token = tokenOf(cookieHeader);
    const s = token ? this.byToken.get(token) : undefined;
    if (!s) return undefined;
    const now = this.now();
    if (this.expired(s, now) || credentialNow(s.caller.user) !== s.credential) {
      this.byToken.delete(token!);
      return undefined;
    }
    if (renew) s.seen = now;
    return s;
  }

  close(cookieHeader: string | undefined): void {
    const token = tokenOf(cookieHeader);
    if (token) this.byToken.delete(token);
  }

  get size(): number {
    return this.byToken.size;
  }
}

/** The cookie that clears ours. */
export const CLEAR_COOKIE = `${COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;

function tokenOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** Compares a form's CSRF token with the sign-in's in constant time. */
export function csrfMatches(signIn: SignIn, given: string | undefined): boolean {
  const a = Buffer.from(signIn.csrf);
  const b = Buffer.from(given ?? '');
  return a.length === b.length && timingSafeEqual(a, b);
}
