// Kerberos as a Negotiate mechanism (RFC 4121; OIDs 1.2.840.113554.1.2.2 and Microsoft's
// 1.2.840.48018.1.2.2, which Windows offers first), inside SPNEGO or bare (pywinrm's Kerberos
// transport under Negotiate, and Windows event forwarders under the Kerberos scheme): one AP-REQ
// in, the AP-REP out (mutual authentication), and a CFX context for sealing. Principals map to
// winrmd users by name within the accepted realms; a machine principal (WS01$) is an event source
// for the collector.
import type { UserRecord, UserStore } from '../../store/users.js';
import type { AuthRequest } from '../authenticator.js';
import { connectionBindings } from '../channel-binding.js';
import { MechRefused, type MechContext, type Mechanism, type MechSession } from '../negotiate.js';
import { KerberosRefused, type KerberosAcceptor } from './acceptor.js';
import { CfxError, CfxSession } from './cfx.js';
import { isKrb5Token } from './messages.js';

export interface KerberosMechanismOptions {
  acceptor: KerberosAcceptor;
  users: UserStore;
  /** Client realms accepted (compared without regard to case). */
  realms: string[];
  /** WS01$@REALM is the event source WS01$ (the collector's), not a user. */
  machineSources: boolean;
  /** CbtHardeningLevel for HTTPS: relaxed checks bindings a client sends, strict requires them. */
  channelBinding: 'none' | 'relaxed' | 'strict';
}

export class KerberosMechanism implements Mechanism {
  readonly name = 'Kerberos';

  constructor(readonly oid: string, private readonly o: KerberosMechanismOptions) {}

  bare(token: Buffer): boolean {
    return isKrb5Token(token);
  }

  start(req: AuthRequest): MechContext {
    return {
      step: (token) => {
        let accepted;
        try {
          accepted = this.o.acceptor.accept(token);
        } catch (err) {
          if (err instanceof KerberosRefused) throw new MechRefused(err.message, err.client);
          throw err;
        }
        const principal = `${accepted.client}@${accepted.realm}`;
        if (!this.o.realms.some((r) => r.toLowerCase() === accepted.realm.toLowerCase())) throw new MechRefused(`a principal of realm ${accepted.realm}, which no rule accepts (kerberos.realms)`, principal);
        this.checkBindings(req, accepted.bindings, principal);
        const user = this.userOf(accepted.client, principal);
        const cfx = new CfxSession({ key: accepted.key.value, acceptorSubkey: accepted.apRep !== undefined, initiatorSeq: accepted.initiatorSeq, acceptorSeq: accepted.acceptorSeq });
        return { done: true, ...(accepted.apRep ? { token: accepted.apRep } : {}), user: user.record, stored: user.stored, session: session(cfx) };
      },
    };
  }

  private userOf(client: string, principal: string): { record: UserRecord; stored: boolean } {
    if (client.includes('/')) throw new MechRefused(`${principal} is a service principal, not a user`, principal);
    if (client.endsWith('$')) {
      if (!this.o.machineSources) throw new MechRefused(`${principal} is a machine; kerberos.machineSources is off`, principal);
      // Not in the user store: the principal is its identity, and it may use the collector alone.
      return { record: { name: client, passwordHash: '', runAs: '', eventSource: true }, stored: false };
    }
    const record = this.o.users.get(client);
    if (!record) throw new MechRefused(`${principal} maps to ${client}, who is not a winrmd user`, principal);
    return { record, stored: true };
  }

  private checkBindings(req: AuthRequest, sent: Buffer, principal: string): void {
    const expected = connectionBindings(req.connection);
    if (this.o.channelBinding === 'none' || !expected) return;
    const given = sent.some((b) => b !== 0);
    if (!given) {
      if (this.o.channelBinding === 'strict') throw new MechRefused('channel bindings required (strict) but not sent', principal);
      return;
    }
    if (!given || !sent.equals(expected)) throw new MechRefused('channel bindings do not match this TLS channel', principal);
  }
}

function session(cfx: CfxSession): MechSession {
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof CfxError) throw new MechRefused(err.message);
      throw err;
    }
  };
  return {
    // MS-WSMV 2.2.9.1.2: the token's first 60 bytes in front, the rest as long as the plaintext.
    sealing: { wrap: (p) => CfxSession.split(cfx.wrap(p)), unwrap: (sealed, signature) => guard(() => cfx.unwrap(Buffer.concat([signature, sealed]))) },
    mechListMic: (mechTypes) => cfx.getMic(mechTypes),
    verifyMechListMic: (mechTypes, mic) => guard(() => cfx.verifyMic(mechTypes, mic)),
  };
}
