// Request envelopes as real clients write them: pywinrm/Go use `env:`, Windows uses `s:`.
import { randomUUID } from 'node:crypto';

export const URI = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsman: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  wsmv: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  wsen: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
  wxf: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  wsmid: 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
  wmi: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2',
  dmtf: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2',
  wql: 'http://schemas.microsoft.com/wbem/wsman/1/WQL',
  selectorFilter: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter',
};

export const ACTIONS = {
  get: `${URI.wxf}/Get`,
  put: `${URI.wxf}/Put`,
  create: `${URI.wxf}/Create`,
  delete: `${URI.wxf}/Delete`,
  enumerate: `${URI.wsen}/Enumerate`,
  pull: `${URI.wsen}/Pull`,
  release: `${URI.wsen}/Release`,
};

export interface EnvelopeOptions {
  action: string;
  resourceUri?: string;
  selectors?: Record<string, string>;
  options?: Record<string, string>;
  body?: string;
  messageId?: string;
  operationTimeout?: string;
  maxEnvelopeSize?: number;
  /** Extra raw header elements. */
  headers?: string;
  prefix?: 'env' | 's';
}

export function envelope(o: EnvelopeOptions): string {
  const p = o.prefix ?? 'env';
  const selectors = o.selectors
    ? `<w:SelectorSet>${Object.entries(o.selectors).map(([k, v]) => `<w:Selector Name="${k}">${v}</w:Selector>`).join('')}</w:SelectorSet>`
    : '';
  const options = o.options
    ? `<w:OptionSet>${Object.entries(o.options).map(([k, v]) => `<w:Option Name="${k}">${v}</w:Option>`).join('')}</w:OptionSet>`
    : '';
  return `<?xml version="1.0" encoding="utf-8"?>
<${p}:Envelope xmlns:${p}="${URI.soap}" xmlns:a="${URI.wsa}" xmlns:w="${URI.wsman}" xmlns:p="${URI.wsmv}" xmlns:n="${URI.wsen}">
<${p}:Header>
<a:To>http://windows-host:5985/wsman</a:To>
<a:ReplyTo><a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<w:MaxEnvelopeSize mustUnderstand="true">${o.maxEnvelopeSize ?? 153600}</w:MaxEnvelopeSize>
<a:MessageID>${o.messageId ?? `uuid:${randomUUID()}`}</a:MessageID>
<w:Locale mustUnderstand="false" xml:lang="en-US"/>
<p:DataLocale mustUnderstand="false" xml:lang="en-US"/>
<w:OperationTimeout>${o.operationTimeout ?? 'PT20S'}</w:OperationTimeout>
${o.resourceUri ? `<w:ResourceURI mustUnderstand="true">${o.resourceUri}</w:ResourceURI>` : ''}
<a:Action mustUnderstand="true">${o.action}</a:Action>
${selectors}${options}${o.headers ?? ''}
</${p}:Header>
<${p}:Body>${o.body ?? ''}</${p}:Body>
</${p}:Envelope>`;
}

export function identify(prefix: 'env' | 's' = 's'): string {
  return `<${prefix}:Envelope xmlns:${prefix}="${URI.soap}" xmlns:wsmid="${URI.wsmid}"><${prefix}:Header/><${prefix}:Body><wsmid:Identify/></${prefix}:Body></${prefix}:Envelope>`;
}

export function enumerateBody(o: { wql?: string; optimize?: boolean; maxElements?: number; mode?: string; selectorFilter?: Record<string, string>; dialect?: string } = {}): string {
  let filter = '';
  if (o.wql !== undefined) filter = `<w:Filter Dialect="${o.dialect ?? URI.wql}">${o.wql.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</w:Filter>`;
  if (o.selectorFilter) {
    filter = `<w:Filter Dialect="${URI.selectorFilter}"><w:SelectorSet>${Object.entries(o.selectorFilter).map(([k, v]) => `<w:Selector Name="${k}">${v}</w:Selector>`).join('')}</w:SelectorSet></w:Filter>`;
  }
  return `<n:Enumerate>${o.optimize ? '<w:OptimizeEnumeration/>' : ''}${o.maxElements ? `<w:MaxElements>${o.maxElements}</w:MaxElements>` : ''}${o.mode ? `<w:EnumerationMode>${o.mode}</w:EnumerationMode>` : ''}${filter}</n:Enumerate>`;
}

export function pullBody(context: string, maxElements?: number): string {
  return `<n:Pull><n:EnumerationContext>${context}</n:EnumerationContext>${maxElements ? `<n:MaxElements>${maxElements}</n:MaxElements>` : ''}</n:Pull>`;
}
