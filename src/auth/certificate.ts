// Client certificates over HTTPS, as WinRM does them (MS-WSMV 2.2.9.1, winrm/config/service/
// certmapping): the TLS layer proves the caller holds a key for a certificate issued by a CA the
// operator trusts, and a mapping names the local user that certificate stands for. A request
// asks for it with the mutual-auth security profile as its Authorization "scheme".
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { SECURITY_PROFILE } from '../soap/names.js';
import type { UserStore } from '../store/users.js';
import { callerOf, type AuthOutcome, type AuthRequest, type Authenticator } from './authenticator.js';
import { globPattern } from '../config/patterns.js';

/** The Authorization "scheme" that asks for certificate authentication (DSP0226 Annex C). */
export const MUTUAL_PROFILE = SECURITY_PROFILE.httpsMutual;

export interface CertificateMapping {
  /** The local winrmd user the certificate maps to. */
  user: string;
  /** The issuing CA: its SHA-1 thumbprint (WinRM's Issuer) or its subject common name. */
  issuer?: string;
  /** Matched against the certificate's subject common name; `*` is a wildcard. */
  subject?: string;
  /** Matched against the user principal names in its subjectAltName; `*` is a wildcard. */
  upn?: string;
}

export interface CertificateOptions {
  users: UserStore;
  /** The CAs trusted to issue client certificates (the HTTPS listener's `ca` too). */
  trustedCas: X509Certificate[];
  mappings: CertificateMapping[];
  /**
   * The CAs that issue Windows event forwarders' certificates (collector.sourceCaFiles, also in
   * the listener's `ca`). A certificate they issued that maps to no user is an event source named
   * by its subject common name, as a Windows collector names it; a forwarder sends no
   * Authorization header, so its connection's certificate is its credential.
   */
  sourceCas?: X509Certificate[];
}

/** Node prints an otherName UPN in subjectAltName as `othername:UPN:<name>`. */
function upns(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('othername:UPN:')).map((n) => n.slice('othername:UPN:'.length));
}

function commonName(dn: string): string | undefined {
  return dn.split('\n').find((l) => l.startsWith('CN='))?.slice(3);
}

export class CertificateAuthenticator implements Authenticator {
  readonly method = 'certificate' as const;
  readonly schemes = [MUTUAL_PROFILE];

  constructor(private readonly opts: CertificateOptions) {}

  /** Not advertised in WWW-Authenticate: a client asks for it by its profile (as with WinRM). */
  challenges(): string[] {
    return [];
  }

  async authenticate(req: AuthRequest): Promise<AuthOutcome> {
    if (!req.secure) return { ok: false, reason: 'certificate authentication needs HTTPS' };
    const socket = req.connection as TLSSocket;
    const peer = socket.getPeerCertificate();
    if (!peer?.raw) return { ok: false, reason: 'no client certificate presented' };
    // Chain, signature and validity period, checked by OpenSSL against the trusted CAs only.
    // Order matters: a resumed TLS 1.3 session without a certificate reports authorized, so the
    // certificate's presence is checked first. Certificates cannot be guessed: no lockout counts.
    if (!socket.authorized) return { ok: false, reason: `client certificate refused: ${socket.authorizationError}` };
    const cert = new X509Certificate(peer.raw);
    const issuer = this.opts.trustedCas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    const mapping = this.opts.mappings.find((m) => this.matches(m, cert, issuer));
    if (!mapping) return this.source(socket, req.clientAddress) ?? { ok: false, reason: `client certificate ${cert.fingerprint256} maps to no user` };
    const user = this.opts.users.get(mapping.user);
    if (!user) return { ok: false, reason: `client certificate maps to ${mapping.user}, who is not a winrmd user` };
    return { ok: true, caller: callerOf(user, req.clientAddress) };
  }

  /** A forwarder's requests carry no Authorization header: its certificate, checked once per connection, stands for it. */
  resume(req: AuthRequest): AuthOutcome | undefined {
    return req.secure ? this.source(req.connection as TLSSocket, req.clientAddress) : undefined;
  }

  private readonly sources = new WeakMap<object, string | null>();

  /** The event source a connection's certificate names, if a source CA issued it. */
  private source(socket: TLSSocket, clientAddress: string): AuthOutcome | undefined {
    const cas = this.opts.sourceCas ?? [];
    if (cas.length === 0) return undefined;
    let name = this.sources.get(socket);
    if (name === undefined) {
      name = null;
      const peer = socket.getPeerCertificate();
      if (peer?.raw && socket.authorized) {
        const cert = new X509Certificate(peer.raw);
        const cn = commonName(cert.subject);
        if (cn && cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) name = cn;
      }
      this.sources.set(socket, name);
    }
    return name === null ? undefined : { ok: true, caller: { user: name, runAs: '', clientAddress, kind: 'event-source' } };
  }

  private matches(m: CertificateMapping, cert: X509Certificate, issuer: X509Certificate | undefined): boolean {
    if (m.issuer) {
      const wanted = m.issuer.replace(/[:\s]/g, '').toLowerCase();
      if (!issuer || (issuer.fingerprint.replace(/:/g, '').toLowerCase() !== wanted && commonName(issuer.subject)?.toLowerCase() !== m.issuer.toLowerCase())) return false;
    }
    if (m.subject && !globPattern(m.subject).test(commonName(cert.subject) ?? '')) return false;
    if (m.upn && !upns(cert).some((u) => globPattern(m.upn!).test(u))) return false;
    return Boolean(m.issuer || m.subject || m.upn);
  }
}
