// One request per action a client can send, each of which would reach a provider if let through:
// the rows of the unauthenticated matrix (security-and-limits.md, OMIGOD). Shared by the Basic
// matrix (security.test.ts) and the NTLM and certificate one (auth.test.ts).
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACTIONS, enumerateBody, envelope, identify, pullBody, URI } from './envelope.js';

export const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
const PROC = `${URI.wmi}/Win32_Process`;

/** The rows, and the file the Win32_Process.Create row would create if it ever ran. */
export function actionsMatrix(): { actions: [string, string][]; marker: string } {
  const markerDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-omigod-'));
  chmodSync(markerDir, 0o777);
  const marker = path.join(markerDir, 'pwned');
  const actions: [string, string][] = [
    ['Identify', identify()],
    ['Get', envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'w1' } })],
    ['Put', envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w1' }, body: `<t:Test_Widget xmlns:t="${WIDGET}"><t:Color>x</t:Color></t:Test_Widget>` })],
    ['Create', envelope({ action: ACTIONS.create, resourceUri: WIDGET, body: `<t:Test_Widget xmlns:t="${WIDGET}"><t:Id>evil</t:Id></t:Test_Widget>` })],
    ['Delete', envelope({ action: ACTIONS.delete, resourceUri: WIDGET, selectors: { Id: 'w1' } })],
    ['Enumerate', envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 5 }) })],
    ['Pull', envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody('uuid:0') })],
    ['Release', envelope({ action: ACTIONS.release, resourceUri: WIDGET, body: '<n:Release><n:EnumerationContext>uuid:0</n:EnumerationContext></n:Release>' })],
    ['Invoke', envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>x</t:Text></t:Echo_INPUT>` })],
    // The published OMIGOD exploit ran a command: here, Win32_Process.Create.
    ['Win32_Process.Create', envelope({ action: `${PROC}/Create`, resourceUri: PROC, body: `<p:Create_INPUT xmlns:p="${PROC}"><p:CommandLine>touch ${marker}</p:CommandLine></p:Create_INPUT>` })],
  ];
  return { actions, marker };
}
