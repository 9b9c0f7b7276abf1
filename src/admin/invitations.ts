// Invitations (issue 16 item 3; Windows Remote Assistance's invitation file, Remote Help's
// consent): a one-time account with a role that a helper uses as user and password (Basic or
// NTLM), which stops working when it expires, is used up (each new connection is a use) or is
// revoked. With consent, the invited helper's first request waits, at most its OperationTimeout,
// until someone on the host accepts (`winrmd session accept`); denied or unanswered is
// AccessDenied. Expiry and revocation are the user store's (an unusable invitation reads as no
// user: 401, on a connection already open too); uses and consent are this authorize hook's.
import { randomBytes } from 'node:crypto';
import { credentialsFor } from '../auth/passwords.js';
import { WsmanFault } from '../soap/faults.js';
import type { Invitation, UserRecord, UserStore } from '../store/users.js';
import type { Exchange } from '../wsman/exchange.js';
import type { AuditLog } from './audit.js';

export interface InvitationTerms {
  role: string;
  /** Milliseconds from now. */
  expiresInMs: number;
  uses: number;
  consent: boolean;
  runAs: string;
  createdBy: string;
}

/** `2h`, `30m`, `1d`, `90s` → milliseconds; undefined when unreadable. */
export function parseSpan(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's']! : undefined;
}

/** A new invitation: its account name and the password, shown once and stored only as hashes. */
export async function createInvitation(users: UserStore, t: InvitationTerms): Promise<{ user: string; password: string; invitation: Invitation }> {
  const user = `invited-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const invitation: Invitation = { expiresAt: new Date(Date.now() + t.expiresInMs).toISOString(), uses: t.uses, used: 0, consent: t.consent, createdBy: t.createdBy };
  users.put({ name: user, ...(await credentialsFor(password)), runAs: t.runAs, roles: [t.role], invitation });
  return { user, password, invitation };
}

/** What `invite list` shows of an invitation's state. */
export function invitationState(inv: Invitation, now = Date.now()): string {
  if (inv.revoked) return 'revoked';
  if (Date.parse(inv.expiresAt) <= now) return 'expired';
  // Asked before used up: the connection that used the last use may be the one waiting.
  if (inv.consent && inv.consentState === 'pending') return 'consent pending';
  if (inv.used >= inv.uses) return 'used up';
  return inv.consent ? `consent ${inv.consentState ?? 'not yet asked'}` : 'open';
}

/** Changes an invitation's state in the store. */
export function updateInvitation(users: UserStore, name: string, change: (inv: Invitation) => void): UserRecord | undefined {
  const u = users.find(name);
  if (!u?.invitation) return undefined;
  change(u.invitation);
  users.put(u);
  return u;
}

/** What someone on the host does to an invitation (the command line, the dashboard), and the audit record each leaves. */
const INVITATION_ANSWERS = {
  revoke: { change: (i: Invitation) => void (i.revoked = true), kind: 'invitation_revoked' },
  accept: { change: (i: Invitation) => void (i.consentState = 'accepted'), kind: 'consent_accepted' },
  deny: { change: (i: Invitation) => void (i.consentState = 'denied'), kind: 'consent_denied' },
} as const;
export type InvitationAnswer = keyof typeof INVITATION_ANSWERS;

/** Revokes, accepts or denies an invitation, kept in the audit trail with who did it; undefined when there is no such invitation. */
export function answerInvitation(users: UserStore, audit: AuditLog, name: string, answer: InvitationAnswer, by: { user: string; address?: string }): UserRecord | undefined {
  const { change, kind } = INVITATION_ANSWERS[answer];
  const u = updateInvitation(users, name, change);
  if (u) audit.append({ kind, user: u.name, address: by.address, data: { by: by.user } });
  return u;
}

export interface GateOptions {
  users: UserStore;
  audit: AuditLog;
  /** How often a request waiting for consent looks at the store (the command line writes it). */
  pollMs?: number;
}

/** The authorize hook for invited accounts: uses, per new connection, and consent. */
export function invitationGate(o: GateOptions): (ex: Exchange) => Promise<void> | void {
  const connections = new Map<string, Set<string>>();
  const pollMs = o.pollMs ?? 250;
  return (ex) => {
    const caller = ex.caller;
    if (!caller) return;
    const u = o.users.get(caller.user);
    if (!u?.invitation) return; // the common case: no promise
    return (async () => {
      const inv = u.invitation!;
      const seen = connections.get(u.name) ?? new Set<string>();
      connections.set(u.name, seen);
      if (!seen.has(ex.info.connectionId)) {
        if (inv.used >= inv.uses) {
          ex.log.warn({ event: 'access_denied', rule: 'invitation_used_up', user: u.name });
          throw new WsmanFault('AccessDenied', `The invitation ${u.name} has been used ${inv.used} time(s) of ${inv.uses}.`);
        }
        seen.add(ex.info.connectionId);
        updateInvitation(o.users, u.name, (i) => i.used++);
        o.audit.append({ kind: 'invitation_used', user: u.name, address: caller.clientAddress, data: { use: inv.used + 1, of: inv.uses, role: u.roles } });
      }
      if (!inv.consent || inv.consentState === 'accepted') return;
      if (inv.consentState !== 'denied') {
        if (inv.consentState !== 'pending') {
          updateInvitation(o.users, u.name, (i) => (i.consentState = 'pending'));
          o.audit.append({ kind: 'consent_requested', user: u.name, address: caller.clientAddress, data: { action: ex.request?.action } });
        }
        ex.log.warn({ event: 'consent_requested', user: u.name, client: caller.clientAddress, accept: `winrmd session accept ${u.name}` });
        const deadline = Date.now() + (ex.request?.operationTimeoutMs ?? 60_000);
        while (Date.now() < deadline && !ex.work.signal.aborted) {
          const state = o.users.find(u.name)?.invitation?.consentState;
          if (state === 'accepted') return;
          if (state === 'denied') break;
          await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
        }
      }
      const state = o.users.find(u.name)?.invitation?.consentState;
      if (state === 'accepted') return;
      ex.log.warn({ event: 'access_denied', rule: state === 'denied' ? 'consent_denied' : 'consent_unanswered', user: u.name });
      throw new WsmanFault('AccessDenied', state === 'denied' ? `The host denied the invitation ${u.name}.` : `Nobody on the host accepted the invitation ${u.name} within the OperationTimeout.`);
    })();
  };
}
