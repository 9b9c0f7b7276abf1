// NTLM as a Negotiate mechanism (MS-NLMP; OID 1.3.6.1.4.1.311.2.2.10): NEGOTIATE → CHALLENGE,
// then AUTHENTICATE → a verified user and its session. The same context serves SPNEGO and the
// bare NTLMSSP that pywinrm and the Go client send.
import type { UserStore } from '../../store/users.js';
import { localUserName, type AuthRequest } from '../authenticator.js';
import { connectionBindings } from '../channel-binding.js';
import { MechRefused, type MechContext, type Mechanism, type MechSession, type MechStep } from '../negotiate.js';
import { MECH } from '../spnego.js';
import { accept, challenge, NtlmRefused, type ChannelBindingLevel, type PendingHandshake } from './acceptor.js';
import { F, messageType, NtlmFormatError, parseAuthenticate, SIGNATURE } from './messages.js';
import { NtlmSession, SignatureError } from './session.js';

/** The NetBIOS name Windows derives from a host name: its first label, upper case, at most 15 characters. */
export const netbiosNameOf = (dnsName: string): string => dnsName.split('.')[0]!.toUpperCase().slice(0, 15);

export interface NtlmMechanismOptions {
  users: UserStore;
  channelBinding: ChannelBindingLevel;
  netbiosName: string;
  dnsName: string;
  /** How long a CHALLENGE stays answerable. */
  handshakeTimeoutMs?: number;
}

/** NTProofStrs seen recently: an AUTHENTICATE is accepted once (a replay refusal that does not depend on the connection). */
const REPLAY_MEMORY = 100_000;

export class NtlmMechanism implements Mechanism {
  readonly oid = MECH.ntlm;
  readonly name = 'NTLM';
  private readonly seen = new Map<string, number>();
  /** Also how long an NTProofStr is remembered: a replay after it fails against a new challenge anyway. */
  private readonly handshakeTimeoutMs: number;

  constructor(private readonly opts: NtlmMechanismOptions) {
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 120_000;
  }

  bare(token: Buffer): boolean {
    return token.subarray(0, 8).equals(SIGNATURE);
  }

  start(req: AuthRequest): MechContext {
    let pending: PendingHandshake | undefined;
    return {
      step: (token) => {
        try {
          const type = messageType(token);
          if (type === 1) {
            pending = challenge(token, this.opts);
            return { done: false, token: pending.challenge };
          }
          if (type !== 3) throw new MechRefused(`unexpected NTLM message type ${type}`);
          const challenged = pending;
          pending = undefined; // one AUTHENTICATE per CHALLENGE, right or wrong
          return this.complete(req, token, challenged);
        } catch (err) {
          if (err instanceof NtlmRefused) throw new MechRefused(err.message, err.user, err.credentialFailure);
          if (err instanceof NtlmFormatError) throw new MechRefused(`malformed NTLM message: ${err.message}`);
          throw err;
        }
      },
    };
  }

  private complete(req: AuthRequest, token: Buffer, pending: PendingHandshake | undefined): MechStep {
    const { user: claimed, ntResponse } = parseAuthenticate(token);
    if (!pending) throw new MechRefused('AUTHENTICATE without a CHALLENGE on this connection', claimed);
    const now = Date.now();
    if (now - pending.issuedAt > this.handshakeTimeoutMs) throw new MechRefused('the NTLM challenge expired', claimed);
    const proof = ntResponse.subarray(0, 16).toString('hex'); // NTProofStr: unique per challenge
    this.forgetOldProofs(now);
    if (this.seen.has(proof)) throw new MechRefused('replayed AUTHENTICATE', claimed);

    // One lookup: accept() refuses a user that does not exist, so `user` is set past it.
    const user = this.opts.users.get(localUserName(claimed));
    const accepted = accept({
      pending,
      authenticate: token,
      ntHashOf: () => (user?.ntHash ? Buffer.from(user.ntHash, 'hex') : undefined),
      channelBindings: connectionBindings(req.connection),
      level: this.opts.channelBinding,
    });
    this.seen.set(proof, now);
    if (!user) throw new MechRefused('unknown user', claimed, true);
    return { done: true, user, session: ntlmSession(new NtlmSession(accepted.exportedSessionKey, accepted.flags)), password: 'verified' };
  }

  private forgetOldProofs(now: number): void {
    for (const [proof, at] of this.seen) {
      if (now - at <= this.handshakeTimeoutMs && this.seen.size <= REPLAY_MEMORY) break;
      this.seen.delete(proof);
    }
  }
}

/**
 * The NTLM session under SPNEGO. The mechListMIC is GSS_GetMIC over the MechTypeList: the NTLM
 * signature (MS-NLMP 3.4.4.2) with the session's signing key and RC4 stream, at sequence number 0
 * as the first message each way. MS-SPNG 3.3.5.1: the first sealed message then starts from the
 * RC4 state the mechListMIC started from (so each stream restarts), at sequence number 1.
 */
function ntlmSession(session: NtlmSession): MechSession {
  const ess = () => {
    // Without extended session security NTLM signs with CRC32 (MS-NLMP 3.4.4.1), which winrmd never grants with SIGN.
    if (!(session.flags & F.ESS)) throw new MechRefused('a mechListMIC without NTLM extended session security');
  };
  return {
    sealing: session.flags & F.SEAL ? { wrap: (p) => session.wrap(p), unwrap: (s, sig) => session.unwrap(s, sig) } : undefined,
    mechListMic(mechTypes) {
      ess();
      const mic = session.sign(mechTypes);
      session.restartRc4('outgoing');
      return mic;
    },
    verifyMechListMic(mechTypes, mic) {
      ess();
      try {
        session.verify(mechTypes, mic);
      } catch (err) {
        if (err instanceof SignatureError) throw new MechRefused('the SPNEGO mechListMIC does not verify');
        throw err;
      }
      session.restartRc4('incoming');
    },
  };
}
