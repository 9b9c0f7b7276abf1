// The events the collector bench sends: Windows-sized, rendered.
import { windowsEvent } from '../helpers/wef-source.js';

/** A RenderedText logon event of about 2.2 KB in UTF-16, as Windows renders 4624. */
export function renderedEvent(i: number): string {
  const message = 'An account was successfully logged on. Subject: Security ID: S-1-5-18 Account Name: WS01$ Account Domain: EXAMPLE Logon ID: 0x3E7 '
    + 'Logon Information: Logon Type: 3 Restricted Admin Mode: - Virtual Account: No Elevated Token: Yes Impersonation Level: Impersonation '
    + 'New Logon: Security ID: S-1-5-21-1004336348-1177238915-682003330-1105 Account Name: alice Account Domain: EXAMPLE Logon ID: 0x1A2B3C';
  return windowsEvent({ id: 4624, recordId: i, message, data: { SubjectUserSid: 'S-1-5-18', TargetUserName: 'alice', TargetDomainName: 'EXAMPLE', LogonType: '3', IpAddress: '192.0.2.10', IpPort: '49152', LogonProcessName: 'NtLmSsp', AuthenticationPackageName: 'NTLM', WorkstationName: 'WS01' } });
}

