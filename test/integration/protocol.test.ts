// The protocol, table-driven (DESIGN.md principle 10): each row is a request fixture, the HTTP
// status, and XPath checks on the reply. Rows run in process against the real app (supertest).
// The last test holds the fault catalogue to this table: every fault must be provoked here.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTS, type FaultId } from '../../src/soap/faults.js';
import { ACTIONS, enumerateBody, envelope, identify, pullBody, URI } from '../helpers/envelope.js';
import { ALICE, BOB, basic, testServer } from '../helpers/server.js';
import { xp, xpAll } from '../helpers/xpath.js';

type Server = Awaited<ReturnType<typeof testServer>>;
const WIDGET = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget';
const OS = `${URI.wmi}/Win32_OperatingSystem`;
const PROC = `${URI.wmi}/Win32_Process`;

interface Row {
  name: string;
  request: () => string | Buffer;
  auth?: string | null;
  path?: string;
  status: number;
  /** A fault id expected in the reply (its subcode and WSManFault code are then checked). */
  fault?: FaultId;
  checks?: [xpath: string, expected: string | RegExp][];
}

const provoked = new Set<FaultId>();

function subcodeOf(id: FaultId): string {
  const spec = FAULTS[id];
  return spec.subcode ? spec.subcode[1] : spec.code;
}

async function run(s: Server, row: Row) {
  const res = await s.post(row.request(), row.auth === undefined ? basic(ALICE) : row.auth, row.path);
  expect(res.status, res.text).toBe(row.status);
  const body: string = res.body;
  // Replies come in the request's encoding (a UTF-16 request gets UTF-16LE with a byte-order mark).
  const utf16 = Buffer.isBuffer(row.request()) && (row.request() as Buffer)[0] === 0xff;
  if (row.status === 200 || row.fault) expect(res.headers['content-type']).toBe(`application/soap+xml;charset=${utf16 ? 'UTF-16' : 'UTF-8'}`);
  if (row.fault) {
    provoked.add(row.fault);
    const spec = FAULTS[row.fault];
    const value = spec.subcode ? xp(body, '/s:Envelope/s:Body/s:Fault/s:Code/s:Subcode/s:Value') : xp(body, '/s:Envelope/s:Body/s:Fault/s:Code/s:Value');
    expect(value.split(':')[1]).toBe(subcodeOf(row.fault));
    expect(xp(body, 'string(/s:Envelope/s:Body/s:Fault/s:Detail/f:WSManFault/@Code)')).toBe(String(spec.wsmanCode));
    expect(xp(body, '/s:Envelope/s:Header/a:Action')).toBe(spec.action);
  }
  for (const [expr, expected] of row.checks ?? []) {
    const actual = xp(body, expr);
    if (expected instanceof RegExp) expect(actual, expr).toMatch(expected);
    else expect(actual, expr).toBe(expected);
  }
  return body;
}

describe('protocol rows', () => {
  let s: Server;
  beforeAll(async () => {
    s = await testServer({ limits: { maxEnumerationContextsPerUser: 3 } });
  });
  afterAll(() => s.server.close());

  const messageId = `uuid:${randomUUID()}`;
  const rows: Row[] = [
    // ---- Identify (DSP0226 §11) ----
    { name: 'Identify, authenticated, s: prefix', request: () => identify('s'), status: 200, checks: [
      ['/s:Envelope/s:Body/wsmid:IdentifyResponse/wsmid:ProtocolVersion', 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'],
      ['/s:Envelope/s:Body/wsmid:IdentifyResponse/wsmid:ProductVendor', 'winrmd'],
      ['/s:Envelope/s:Body/wsmid:IdentifyResponse/wsmid:ProductVersion', /^OS: \d+\.\d+\.\d+ SP: 0\.0 Stack: 3\.0$/],
      ['count(//wsmid:SecurityProfileName)', '4'], // http and https × basic and spnego-kerberos (NTLM)
    ] },
    { name: 'Identify, env: prefix', request: () => identify('env'), status: 200, checks: [['//wsmid:ProductVendor', 'winrmd']] },
    { name: 'Identify, anonymous endpoint: no product version, no profiles', request: () => identify(), auth: null, path: '/wsman-anon', status: 200, checks: [
      ['//wsmid:ProductVersion', 'OS: 0.0.0 SP: 0.0 Stack: 3.0'],
      ['count(//wsmid:SecurityProfiles)', '0'],
    ] },
    { name: 'anonymous endpoint refuses anything but Identify', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }), auth: null, path: '/wsman-anon', status: 500, fault: 'AccessDenied' },

    // ---- Get (DSP0226 §7.1) ----
    { name: 'Get Win32_OperatingSystem, RelatesTo verbatim', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, messageId }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:RelatesTo', messageId],
      ['/s:Envelope/s:Header/a:Action', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse'],
      ['/s:Envelope/s:Header/a:MessageID', /^uuid:[0-9a-f-]{36}$/],
      ['/s:Envelope/s:Body/os:Win32_OperatingSystem/os:OSType', '36'],
      ['string(/s:Envelope/s:Body/os:Win32_OperatingSystem/@xsi:type)', 'p:Win32_OperatingSystem_Type'],
      ['/s:Envelope/s:Body/os:Win32_OperatingSystem/os:LastBootUpTime/cim:Datetime', /^\d{4}-\d\d-\d\dT/],
      ['string(/s:Envelope/s:Body/os:Win32_OperatingSystem/os:InstallDate/@xsi:nil)', 'true'],
    ] },
    { name: 'Get Win32_OperatingSystem, Windows s: prefix', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, prefix: 's' }), status: 200, checks: [['//os:OSType', '36']] },
    { name: 'Get Win32_Process by selector', request: () => envelope({ action: ACTIONS.get, resourceUri: PROC, selectors: { Handle: String(process.pid) } }), status: 200, checks: [
      ['//proc:Win32_Process/proc:ProcessId', String(process.pid)],
      ['//proc:Win32_Process/proc:ParentProcessId', String(process.ppid)],
    ] },
    { name: 'Get with winrm.cmd style ?Handle= selectors in the resource URI', request: () => envelope({ action: ACTIONS.get, resourceUri: `${PROC}?Handle=${process.pid}` }), status: 200, checks: [['//proc:ProcessId', String(process.pid)]] },
    { name: 'Get through the DMTF URI with __cimnamespace returns the concrete class', request: () => envelope({ action: ACTIONS.get, resourceUri: `${URI.dmtf}/CIM_OperatingSystem`, selectors: { __cimnamespace: 'root/cimv2' } }), status: 200, checks: [['//os:Win32_OperatingSystem/os:OSType', '36']] },
    { name: 'Get of a missing instance', request: () => envelope({ action: ACTIONS.get, resourceUri: PROC, selectors: { Handle: '999999999' } }), status: 500, fault: 'DestinationUnreachable' },
    { name: 'Get of an instance whose device is gone', request: () => envelope({ action: ACTIONS.get, resourceUri: WIDGET, selectors: { Id: 'unplugged' } }), status: 500, fault: 'EndpointUnavailable', checks: [
      ['string(//s:Reason/s:Text)', 'widget unplugged: its device does not answer'],
    ] },
    { name: 'Get of an unknown class', request: () => envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_NoSuchClass` }), status: 500, fault: 'DestinationUnreachable' },
    { name: 'Get of a resource URI nobody serves', request: () => envelope({ action: ACTIONS.get, resourceUri: 'http://example.com/nothing' }), status: 500, fault: 'DestinationUnreachable' },
    { name: 'Get with a selector that is not a key', request: () => envelope({ action: ACTIONS.get, resourceUri: PROC, selectors: { Name: 'node' } }), status: 500, fault: 'InvalidSelectors' },
    { name: 'Get of a many-instance class without selectors', request: () => envelope({ action: ACTIONS.get, resourceUri: PROC }), status: 500, fault: 'InvalidSelectors' },
    { name: 'Get with a duplicated selector', request: () => envelope({ action: ACTIONS.get, resourceUri: `${PROC}?Handle=1`, selectors: { Handle: '2' } }), status: 500, fault: 'InvalidSelectors' },
    { name: '__cimnamespace contradicting the WMI URI', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, selectors: { __cimnamespace: 'root/other' } }), status: 500, fault: 'InvalidSelectors' },

    // ---- Put / Create / Delete (DSP0226 §7.2–7.4) ----
    { name: 'Put a widget', request: () => envelope({ action: ACTIONS.put, resourceUri: WIDGET, selectors: { Id: 'w2' }, body: `<t:Test_Widget xmlns:t="${WIDGET}"><t:Color>green</t:Color><t:Size>77</t:Size></t:Test_Widget>` }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:Action', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse'],
      ['//t:Test_Widget/t:Color', 'green'],
      ['//t:Test_Widget/t:Size', '77'],
      ['count(//t:Test_Widget/t:Tags)', '2'],
    ] },
    { name: 'Create a widget', request: () => envelope({ action: ACTIONS.create, resourceUri: WIDGET, body: `<t:Test_Widget xmlns:t="${WIDGET}"><t:Id>w9</t:Id><t:Color>gold</t:Color></t:Test_Widget>` }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:Action', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse'],
      ['/s:Envelope/s:Body/x:ResourceCreated/a:ReferenceParameters/w:ResourceURI', WIDGET],
      ['//x:ResourceCreated//w:Selector[@Name="Id"]', 'w9'],
    ] },
    { name: 'Create an existing widget', request: () => envelope({ action: ACTIONS.create, resourceUri: WIDGET, body: `<t:Test_Widget xmlns:t="${WIDGET}"><t:Id>w1</t:Id></t:Test_Widget>` }), status: 500, fault: 'AlreadyExists' },
    { name: 'Create with a body of the wrong class', request: () => envelope({ action: ACTIONS.create, resourceUri: WIDGET, body: `<t:Other xmlns:t="${WIDGET}"/>` }), status: 500, fault: 'SchemaValidationError' },
    { name: 'Delete a widget', request: () => envelope({ action: ACTIONS.delete, resourceUri: WIDGET, selectors: { Id: 'w9' } }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:Action', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse'],
      ['count(/s:Envelope/s:Body/*)', '0'],
    ] },
    { name: 'Delete it again', request: () => envelope({ action: ACTIONS.delete, resourceUri: WIDGET, selectors: { Id: 'w9' } }), status: 500, fault: 'DestinationUnreachable' },
    { name: 'Put where the provider cannot', request: () => envelope({ action: ACTIONS.put, resourceUri: OS, body: '<x/>' }), status: 500, fault: 'ActionNotSupported' },
    { name: 'Create where the provider cannot', request: () => envelope({ action: ACTIONS.create, resourceUri: `${URI.wmi}/Win32_BIOS`, body: '<x/>' }), status: 500, fault: 'ActionNotSupported' },
    { name: 'Delete where the provider cannot', request: () => envelope({ action: ACTIONS.delete, resourceUri: OS }), status: 500, fault: 'ActionNotSupported' },
    { name: 'an unknown action', request: () => envelope({ action: 'http://example.com/DoSomething', resourceUri: OS }), status: 500, fault: 'ActionNotSupported' },

    // ---- Enumerate (DSP0226 §8) ----
    { name: 'Enumerate widgets, optimized, all in one reply', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 10 }) }), status: 200, checks: [
      ['count(//w:Items/t:Test_Widget)', '3'],
      ['count(//w:EndOfSequence)', '1'],
      ['//n:EnumerationContext', ''],
      ['//w:Items/t:Test_Widget[t:Id="w1"]/t:Made/cim:Datetime', '2024-01-01T00:00:00.000Z'],
      ['count(//w:Items/t:Test_Widget[t:Id="w1"]/t:Tags)', '2'],
    ] },
    { name: 'Enumerate EPRs', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 10, mode: 'EnumerateEPR' }) }), status: 200, checks: [
      ['count(//w:Items/a:EndpointReference)', '3'],
      ['//w:Items/a:EndpointReference[1]/a:ReferenceParameters/w:ResourceURI', WIDGET],
      ['//w:Items/a:EndpointReference[1]//w:Selector[@Name="Id"]', 'w1'],
    ] },
    { name: 'Enumerate objects and EPRs', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 10, mode: 'EnumerateObjectAndEPR' }) }), status: 200, checks: [
      ['count(//w:Items/w:Item)', '3'],
      ['//w:Items/w:Item[1]/t:Test_Widget/t:Id', 'w1'],
      ['//w:Items/w:Item[1]/a:EndpointReference//w:Selector[@Name="Id"]', 'w1'],
    ] },
    { name: 'an unknown EnumerationMode', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ mode: 'EnumerateEverything' }) }), status: 500, fault: 'InvalidParameter' },
    { name: 'WQL with projection and LIKE', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 10, wql: "SELECT Id, Size FROM Test_Widget WHERE Color = 'red' AND Id LIKE 'w%' AND NOT Size > 20" }) }), status: 200, checks: [
      ['count(//w:Items/w:XmlFragment)', '1'],
      ['//w:Items/w:XmlFragment/Id', 'w1'],
      ['//w:Items/w:XmlFragment/Size', '10'],
      ['count(//w:Items/w:XmlFragment/Color)', '0'],
    ] },
    { name: 'WQL through the namespace wildcard URI', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/*', body: enumerateBody({ optimize: true, maxElements: 10, wql: 'SELECT * FROM Test_Widget WHERE Size >= 20 OR Note IS NOT NULL' }) }), status: 200, checks: [
      ['count(//w:Items/t:Test_Widget)', '2'],
    ] },
    { name: 'WQL on Win32_Process finds this process', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: PROC, body: enumerateBody({ optimize: true, maxElements: 10, wql: `SELECT ProcessId, Name FROM Win32_Process WHERE ProcessId = ${process.pid}` }) }), status: 200, checks: [
      ['count(//w:Items/w:XmlFragment)', '1'],
      ['//w:Items/w:XmlFragment/ProcessId', String(process.pid)],
    ] },
    { name: 'selector filter dialect', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 10, selectorFilter: { Color: 'RED' } }) }), status: 200, checks: [
      ['count(//w:Items/t:Test_Widget)', '2'],
    ] },
    { name: 'selector filter naming no property', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ selectorFilter: { Flavour: 'x' } }) }), status: 500, fault: 'CannotProcessFilter' },
    { name: 'bad WQL names the position', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ wql: 'SELECT Id FORM Test_Widget' }) }), status: 500, fault: 'CannotProcessFilter', checks: [
      ['//s:Reason/s:Text', /position 10/],
    ] },
    { name: 'WQL naming an unknown property', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ wql: 'SELECT Id FROM Test_Widget WHERE Weight > 3' }) }), status: 500, fault: 'CannotProcessFilter', checks: [
      ['//s:Reason/s:Text', /Weight.*position 33/],
    ] },
    { name: 'WQL selecting from an unrelated class', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ wql: 'SELECT * FROM Test_Gadget' }) }), status: 500, fault: 'CannotProcessFilter' },
    { name: 'the wildcard URI without a filter', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: `${URI.wmi}/*`, body: enumerateBody() }), status: 500, fault: 'CannotProcessFilter' },
    { name: 'an unknown filter dialect', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ wql: '/x', dialect: 'http://www.w3.org/TR/1999/REC-xpath-19991116' }) }), status: 500, fault: 'FilterDialectRequestedUnavailable' },
    { name: 'Pull of an unknown context', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody('uuid:00000000-0000-0000-0000-000000000000') }), status: 500, fault: 'InvalidEnumerationContext' },
    { name: 'Release of an unknown context', request: () => envelope({ action: ACTIONS.release, resourceUri: WIDGET, body: '<n:Release><n:EnumerationContext>uuid:nope</n:EnumerationContext></n:Release>' }), status: 500, fault: 'InvalidEnumerationContext' },

    // ---- Invoke (DSP0226 §9, MS-WSMV 3.1.4.16) ----
    { name: 'Invoke Echo', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>ab</t:Text><t:Times>3</t:Times></t:Echo_INPUT>` }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:Action', `${WIDGET}/EchoResponse`],
      ['/s:Envelope/s:Body/t:Echo_OUTPUT/t:Result', 'ababab'],
      ['/s:Envelope/s:Body/t:Echo_OUTPUT/t:ReturnValue', '0'],
    ] },
    { name: 'Invoke an unknown method', request: () => envelope({ action: `${WIDGET}/Explode`, resourceUri: WIDGET }), status: 500, fault: 'ActionNotSupported' },
    { name: 'Invoke with an unknown parameter', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Colour>x</t:Colour></t:Echo_INPUT>` }), status: 500, fault: 'InvalidParameter' },
    { name: 'Invoke with a parameter of the wrong type', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Times>many</t:Times></t:Echo_INPUT>` }), status: 500, fault: 'InvalidParameter', checks: [
      ['//s:Reason/s:Text', /Times must be a uint32 value/],
    ] },
    { name: 'Invoke on a missing instance', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, selectors: { Id: 'nope' } }), status: 500, fault: 'DestinationUnreachable' },
    { name: 'a provider slower than OperationTimeout', request: () => envelope({ action: `${WIDGET}/Slow`, resourceUri: WIDGET, operationTimeout: 'PT0.3S', body: `<t:Slow_INPUT xmlns:t="${WIDGET}"><t:Ms>3000</t:Ms></t:Slow_INPUT>` }), status: 500, fault: 'TimedOut' },
    { name: 'a provider that throws: InternalError, no detail leaks', request: () => envelope({ action: `${WIDGET}/Fail`, resourceUri: WIDGET }), status: 500, fault: 'InternalError', checks: [
      ['//s:Reason/s:Text', /^The service cannot comply/],
      ['count(//*[contains(text(), "secret")])', '0'],
    ] },
    { name: 'Win32_Process.Create for a caller mapped to root', request: () => envelope({ action: `${PROC}/Create`, resourceUri: PROC, body: `<p:Create_INPUT xmlns:p="${PROC}"><p:CommandLine>true</p:CommandLine></p:Create_INPUT>` }), auth: basic({ user: 'rooty', password: 'rooty-Secret-3' }), status: 500, fault: 'AccessDenied' },

    // ---- Headers (DSP0226 §5, SOAP 1.2) ----
    { name: 'no MessageID', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }).replace(/<a:MessageID>.*?<\/a:MessageID>/, ''), status: 500, fault: 'MessageInformationHeaderRequired' },
    { name: 'two Action headers', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, headers: `<a:Action>${ACTIONS.get}</a:Action>` }), status: 500, fault: 'InvalidMessageInformationHeader' },
    { name: 'an OperationTimeout that is no duration', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, operationTimeout: 'soon' }), status: 500, fault: 'InvalidMessageInformationHeader' },
    { name: 'a ReplyTo that is not anonymous', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }).replace('http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous', 'http://evil.example/'), status: 500, fault: 'InvalidMessageInformationHeader' },
    { name: 'an unknown header with mustUnderstand', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, headers: '<z:Frob xmlns:z="urn:frob" mustUnderstand="true">1</z:Frob>' }), status: 500, fault: 'MustUnderstand', checks: [
      ['string(/s:Envelope/s:Header/s:NotUnderstood/@qname)', 'nu:Frob'],
    ] },
    { name: 'an unknown header without mustUnderstand is ignored', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, headers: '<z:Frob xmlns:z="urn:frob" mustUnderstand="false">1</z:Frob>' }), status: 200 },
    { name: 'MaxEnvelopeSize below 8192', request: () => envelope({ action: ACTIONS.get, resourceUri: OS, maxEnvelopeSize: 1000 }), status: 500, fault: 'EncodingLimit' },
    { name: 'a reply larger than MaxEnvelopeSize', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, maxEnvelopeSize: 8192, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text>0123456789</t:Text><t:Times>1000</t:Times></t:Echo_INPUT>` }), status: 500, fault: 'EncodingLimit' },
    { name: 'a body that is not SOAP', request: () => '<hello/>', status: 500, fault: 'SchemaValidationError' },
    { name: 'malformed XML', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }).replace('</a:MessageID>', '</a:MessageIX>'), status: 500, fault: 'SchemaValidationError' },
    { name: 'CDATA in a value', request: () => envelope({ action: `${WIDGET}/Echo`, resourceUri: WIDGET, body: `<t:Echo_INPUT xmlns:t="${WIDGET}"><t:Text><![CDATA[<&>]]></t:Text></t:Echo_INPUT>` }), status: 200, checks: [['//t:Result', '<&>']] },
    { name: 'a UTF-16LE body with BOM', request: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(envelope({ action: ACTIONS.get, resourceUri: OS, prefix: 's' }).replace('encoding="utf-8"', 'encoding="utf-16"'), 'utf16le')]), status: 200, checks: [['//os:OSType', '36']] },
  ];

  for (const row of rows) it(row.name, () => run(s, row));

  it('Enumerate then Pull pages through to EndOfSequence, items in order, none twice', async () => {
    const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody() }), status: 200 });
    let context = xp(first, '//n:EnumerateResponse/n:EnumerationContext');
    expect(context).toMatch(/^uuid:/);
    const ids: string[] = [];
    for (let i = 0; i < 10 && context; i++) {
      const page = await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody(context, 2) }), status: 200 });
      expect(xp(page, '/s:Envelope/s:Header/a:Action')).toBe('http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse');
      ids.push(...xpAll(page, '//n:Items/t:Test_Widget/t:Id'));
      context = xp(page, 'count(//n:EndOfSequence)') === '1' ? '' : xp(page, '//n:PullResponse/n:EnumerationContext');
    }
    expect(ids).toEqual(['w1', 'w2', 'w3']);
    expect(s.server.core.openEnumerations).toBe(0);
  });

  it('pages are cut to the client\'s MaxEnvelopeSize, whatever MaxElements asks (DSP0226 §6.2)', async () => {
    // Widgets of a known size, not Win32_Process: on some hosts one process's command line alone
    // is larger than 8192 bytes, and that item is rightly an EncodingLimit fault.
    const extra = Array.from({ length: 200 }, (_, i) => `page${i}`);
    for (const id of extra) s.widgets.widgets.set(id, { className: 'Test_Widget', properties: { Id: id, Color: 'green', Size: 1, Tags: ['x'], Made: null, Note: 'n'.repeat(100) } });
    try {
      const max = 8192;
      const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, maxEnvelopeSize: max, body: enumerateBody({ optimize: true, maxElements: 10_000 }) }), status: 200 });
      expect(Buffer.byteLength(first)).toBeLessThanOrEqual(max);
      let ids = xpAll(first, '//w:Items/t:Test_Widget/t:Id');
      expect(ids.length).toBeGreaterThan(0);
      let context = xp(first, '//n:EnumerationContext');
      let pages = 1;
      while (context) {
        const page = await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, maxEnvelopeSize: max, body: pullBody(context, 10_000) }), status: 200 });
        expect(Buffer.byteLength(page)).toBeLessThanOrEqual(max);
        ids = ids.concat(xpAll(page, '//n:Items/t:Test_Widget/t:Id'));
        context = xp(page, 'count(//n:EndOfSequence)') === '1' ? '' : xp(page, '//n:PullResponse/n:EnumerationContext');
        pages++;
      }
      expect(pages).toBeGreaterThan(1);
      expect(ids).toEqual([...s.widgets.widgets.keys()]);
    } finally {
      for (const id of extra) s.widgets.widgets.delete(id);
    }
  });

  it('a released context is gone; another user cannot pull or release a context', async () => {
    const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody() }), status: 200 });
    const context = xp(first, '//n:EnumerationContext');
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody(context) }), auth: basic(BOB), status: 500, fault: 'InvalidEnumerationContext' });
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.release, resourceUri: WIDGET, body: `<n:Release><n:EnumerationContext>${context}</n:EnumerationContext></n:Release>` }), status: 200, checks: [
      ['/s:Envelope/s:Header/a:Action', 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse'],
    ] });
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody(context) }), status: 500, fault: 'InvalidEnumerationContext' });
  });

  it('open enumeration contexts per user are a quota', async () => {
    const open = () => run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody() }), auth: basic(BOB), status: 200 });
    const contexts = [await open(), await open(), await open()].map((b) => xp(b, '//n:EnumerationContext'));
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody() }), auth: basic(BOB), status: 500, fault: 'QuotaLimit', checks: [
      ['//s:Reason/s:Text', /MaxEnumerationContextsPerUser = 3/],
    ] });
    // Another user's quota is their own.
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody({ optimize: true, maxElements: 9 }) }), status: 200 });
    for (const c of contexts) await run(s, { name: '', request: () => envelope({ action: ACTIONS.release, resourceUri: WIDGET, body: `<n:Release><n:EnumerationContext>${c}</n:EnumerationContext></n:Release>` }), auth: basic(BOB), status: 200 });
  });

  it('a failing request is logged with its request id and the stack; the client sees neither', async () => {
    await run(s, { name: '', request: () => envelope({ action: `${WIDGET}/Fail`, resourceUri: WIDGET }), status: 500, fault: 'InternalError' });
    const line = s.logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'internal_error');
    expect(line.reqId).toMatch(/^[0-9a-f-]{36}$/);
    expect(line.err.stack).toContain('widget exploded');
    const request = s.logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'request' && l.reqId === line.reqId);
    expect(request).toMatchObject({ user: 'alice', fault: 'InternalError', status: 500, action: `${WIDGET}/Fail` });
    expect(s.logLines.join('\n')).not.toContain(ALICE.password);
  });
});

describe('time-bound behaviour', () => {
  it('a Pull that times out with no item keeps its context; the next Pull gets the items in order', async () => {
    const s = await testServer();
    const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, options: { SlowMs: '400' }, body: enumerateBody() }), status: 200 });
    const context = xp(first, '//n:EnumerationContext');
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, operationTimeout: 'PT0.1S', body: pullBody(context, 10) }), status: 500, fault: 'TimedOut' });
    const page = await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, operationTimeout: 'PT5S', body: pullBody(context, 10) }), status: 200 });
    expect(xpAll(page, '//n:Items/t:Test_Widget/t:Id')).toEqual(['w1', 'w2', 'w3']);
    await s.server.close();
  });

  it('a Pull whose OperationTimeout runs out mid-page returns what it has; the read in flight goes first in the next Pull', async () => {
    const s = await testServer();
    const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, options: { SlowMs: '200' }, body: enumerateBody() }), status: 200 });
    let context: string | undefined = xp(first, '//n:EnumerationContext');
    const pages: string[][] = [];
    for (let pulls = 0; context && pulls < 5; pulls++) {
      const page = await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, operationTimeout: 'PT0.5S', body: pullBody(context!, 10) }), status: 200 });
      pages.push(xpAll(page, '//n:Items/t:Test_Widget/t:Id'));
      context = xpAll(page, '//n:EndOfSequence').length ? undefined : xp(page, '//n:EnumerationContext');
    }
    // Widgets come 200 ms apart: the first page is cut by its 0.5 s, and none is lost or repeated.
    expect(pages[0].length).toBeGreaterThan(0);
    expect(pages[0].length).toBeLessThan(3);
    expect(pages.flat()).toEqual(['w1', 'w2', 'w3']);
    expect(s.server.core.openEnumerations).toBe(0);
    await s.server.close();
  });

  it('an enumeration context expires after EnumerationTimeoutms without a Pull', async () => {
    const s = await testServer({ limits: { enumerationTimeoutMs: 200 } });
    const first = await run(s, { name: '', request: () => envelope({ action: ACTIONS.enumerate, resourceUri: WIDGET, body: enumerateBody() }), status: 200 });
    const context = xp(first, '//n:EnumerationContext');
    await new Promise((r) => setTimeout(r, 400));
    expect(s.server.core.openEnumerations).toBe(0);
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.pull, resourceUri: WIDGET, body: pullBody(context) }), status: 500, fault: 'InvalidEnumerationContext' });
    await s.server.close();
  });

  it('concurrent operations per user are a quota', async () => {
    const s = await testServer({ limits: { maxConcurrentOperationsPerUser: 1 } });
    const slow = s.post(envelope({ action: `${WIDGET}/Slow`, resourceUri: WIDGET, body: `<t:Slow_INPUT xmlns:t="${WIDGET}"><t:Ms>500</t:Ms></t:Slow_INPUT>` }));
    const pending = slow.then((r) => r);
    await new Promise((r) => setTimeout(r, 100));
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }), status: 500, fault: 'QuotaLimit' });
    // Bob is not affected, and Alice can go on once her operation ends.
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }), auth: basic(BOB), status: 200 });
    expect((await pending).status).toBe(200);
    await run(s, { name: '', request: () => envelope({ action: ACTIONS.get, resourceUri: OS }), status: 200 });
    await s.server.close();
  });
});

describe('eventing faults (DSP0226 §10, W3C WS-Eventing §4)', () => {
  let s: Server;
  beforeAll(async () => {
    // No journal where the configuration says: an EventLog subscription cannot be served.
    s = await testServer({ security: { eventLogReaders: ['alice'] }, journal: { directory: '/nonexistent/journal' }, eventing: { deliveryTargets: [{ url: 'http://127.0.0.1:9/sinks/' }] } });
  });
  afterAll(() => s.server.close());
  const WSE = 'http://schemas.xmlsoap.org/ws/2004/08/eventing';
  const EVENT_LOG = 'http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog';
  const WIDGETS = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/*';
  const PULL_MODE = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull';
  const CREATED = "SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA 'Test_Widget'";
  const sub = (resourceUri: string, inner: string, mode = PULL_MODE) => () => envelope({
    action: `${WSE}/Subscribe`, resourceUri,
    body: `<e:Subscribe xmlns:e="${WSE}"><e:Delivery Mode="${mode}">${inner.includes('NotifyTo') ? inner.match(/<e:NotifyTo>.*<\/e:NotifyTo>/)![0] : ''}</e:Delivery>${inner.replace(/<e:NotifyTo>.*<\/e:NotifyTo>/, '')}</e:Subscribe>`,
  });
  const wql = (q: string) => `<w:Filter Dialect="${URI.wql}">${q}</w:Filter>`;
  const rows: Row[] = [
    { name: 'Subscribe, pull: a context and a subscription manager', request: sub(WIDGETS, wql(CREATED)), status: 200, checks: [
      ['local-name(/s:Envelope/s:Body/*)', 'SubscribeResponse'],
      ['count(/s:Envelope/s:Body/*/*[local-name()="EnumerationContext"])', '1'],
    ] },
    { name: 'Subscribe with an unknown delivery mode', request: sub(WIDGETS, wql(CREATED), 'http://example.org/mode/Carrier-Pigeon'), status: 500, fault: 'DeliveryModeRequestedUnavailable' },
    { name: 'Subscribe expiring in the past', request: sub(WIDGETS, `<e:Expires>2001-01-01T00:00:00Z</e:Expires>${wql(CREATED)}`), status: 500, fault: 'InvalidExpirationTime' },
    { name: 'Subscribe expiring "tomorrow"', request: sub(WIDGETS, `<e:Expires>tomorrow</e:Expires>${wql(CREATED)}`), status: 500, fault: 'UnsupportedExpirationType' },
    { name: 'Subscribe to the SEL with a filter', request: sub('http://schemas.microsoft.com/wbem/wsman/1/logrecord/sel', wql(CREATED)), status: 500, fault: 'FilteringNotSupported' },
    { name: 'Subscribe with an XPath filter on a class', request: sub(WIDGETS, `<w:Filter Dialect="http://www.w3.org/TR/1999/REC-xpath-19991116">/*</w:Filter>`), status: 500, fault: 'FilteringRequestedUnavailable' },
    { name: 'Subscribe with a malformed instance event query', request: sub(WIDGETS, wql('SELECT * FROM __InstanceCreationEvent WHERE TargetInstance ISA \'Test_Widget\'')), status: 500, fault: 'CannotProcessFilter' },
    { name: 'Subscribe to the EventLog with no journal to read', request: sub(EVENT_LOG, ''), status: 500, fault: 'EventSourceUnableToProcess' },
    { name: 'Subscribe with a bookmark this source never gave', request: sub(WIDGETS, `${wql(CREATED)}<w:Bookmark><BookmarkList><Bookmark Channel="System" RecordId="7"/></BookmarkList></w:Bookmark>`), status: 500, fault: 'InvalidBookmark' },
    { name: 'Subscribe, push to an address the configuration does not allow', request: sub(WIDGETS, `<e:NotifyTo><a:Address>http://169.254.169.254/latest</a:Address></e:NotifyTo>${wql(CREATED)}`, 'http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push'), status: 500, fault: 'EventDeliverToUnusable' },
    { name: 'Renew of a subscription that does not exist', request: () => envelope({ action: `${WSE}/Renew`, headers: `<e:Identifier xmlns:e="${WSE}">uuid:00000000-0000-0000-0000-000000000000</e:Identifier>`, body: `<e:Renew xmlns:e="${WSE}"/>` }), status: 500, fault: 'UnableToRenew' },
  ];
  for (const row of rows) it(row.name, () => run(s, row));
});

describe('fault catalogue', () => {
  it('every fault in the catalogue was provoked by a row above', () => {
    expect([...provoked].sort()).toEqual(Object.keys(FAULTS).sort());
  });
});
