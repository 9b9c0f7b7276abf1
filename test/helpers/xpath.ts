// XPath over replies, with the namespace prefixes tests use (independent of the server's).
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { URI } from './envelope.js';

const select = xpath.useNamespaces({
  s: URI.soap,
  a: URI.wsa,
  w: URI.wsman,
  n: URI.wsen,
  x: URI.wxf,
  wsmid: URI.wsmid,
  f: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
  cim: 'http://schemas.dmtf.org/wbem/wscim/1/common',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  os: `${URI.wmi}/Win32_OperatingSystem`,
  svc: `${URI.wmi}/Win32_Service`,
  proc: `${URI.wmi}/Win32_Process`,
  disk: `${URI.wmi}/Win32_LogicalDisk`,
  cs: `${URI.wmi}/Win32_ComputerSystem`,
  t: 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/test/Test_Widget',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  e: 'http://schemas.xmlsoap.org/ws/2004/08/eventing',
  ev: 'http://schemas.microsoft.com/win/2004/08/events/event',
});

export function parse(xml: string) {
  return new DOMParser().parseFromString(xml, 'text/xml');
}

/** The string value of an XPath expression (count(), string(), …) over a reply. */
export function xp(xml: string, expr: string): string {
  const doc = parse(xml);
  const r = select(expr, doc as unknown as Node);
  if (Array.isArray(r)) return r.length ? (r[0] as Node).textContent ?? '' : '';
  return String(r);
}

export function xpAll(xml: string, expr: string): string[] {
  const r = select(expr, parse(xml) as unknown as Node);
  return Array.isArray(r) ? r.map((n) => (n as Node).textContent ?? '') : [String(r)];
}
