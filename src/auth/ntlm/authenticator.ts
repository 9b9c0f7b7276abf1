// NTLM over HTTP (MS-NTHT), offered under both Negotiate and NTLM:
// bare NTLMSSP (pywinrm, the Go client) and NTLM inside SPNEGO (pypsrp, Windows clients). The
// Negotiate authenticator with NTLM as its one mechanism; Kerberos joins as a second.
import type { UserStore } from '../../store/users.js';
import { NegotiateAuthenticator } from '../negotiate.js';
import type { ChannelBindingLevel } from './acceptor.js';
import { NtlmMechanism } from './mechanism.js';

export interface NtlmOptions {
  users: UserStore;
  allowUnencrypted: boolean;
  channelBinding: ChannelBindingLevel;
  netbiosName: string;
  dnsName: string;
  /** How long a CHALLENGE stays answerable. */
  handshakeTimeoutMs?: number;
}

export class NtlmAuthenticator extends NegotiateAuthenticator {
  constructor(opts: NtlmOptions) {
    super({ mechanisms: [new NtlmMechanism(opts)], users: opts.users, allowUnencrypted: opts.allowUnencrypted });
  }
}
