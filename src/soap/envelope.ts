// Typed replies → SOAP 1.2 envelopes, faults included (DSP0226 §5.4, MS-WSMV 2.2.4.43 WSManFault).
import { randomUUID } from 'node:crypto';
import { FAULTS, type FaultId } from './faults.js';
import { ANONYMOUS, NS, PREFIX } from './names.js';
import { el, serialize, type XmlNode } from './xml.js';

export const SOAP_CONTENT_TYPE = 'application/soap+xml;charset=UTF-8';
export const SOAP_CONTENT_TYPE_UTF16 = 'application/soap+xml;charset=UTF-16';

export interface ReplyMessage {
  action: string;
  /** The request's wsa:MessageID, copied verbatim (pywinrm asserts it). */
  relatesTo?: string;
  /** Headers after the addressing ones (a w:Bookmark with a subscription's PullResponse). */
  headers?: XmlNode[];
  body: XmlNode[];
}

export function buildEnvelope(reply: ReplyMessage): string {
  const header = el(NS.soap, 'Header', {},
    el(NS.wsa, 'To', {}, ANONYMOUS),
    el(NS.wsa, 'Action', {}, reply.action),
    el(NS.wsa, 'MessageID', {}, `uuid:${randomUUID()}`),
    reply.relatesTo ? el(NS.wsa, 'RelatesTo', {}, reply.relatesTo) : undefined,
    ...(reply.headers ?? []));
  return envelope(header, reply.body);
}

/** Identify replies carry no addressing headers (DSP0226 §11.2). */
export function buildBareEnvelope(body: XmlNode[]): string {
  return envelope(el(NS.soap, 'Header'), body);
}

function envelope(header: XmlNode, body: XmlNode[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>${serialize(el(NS.soap, 'Envelope', {}, header, el(NS.soap, 'Body', {}, ...body)))}`;
}

export interface FaultMessage {
  id: FaultId;
  message: string;
  faultDetail?: string;
  /** For MustUnderstand: the header not understood (SOAP 1.2 §5.4.8, s:NotUnderstood). */
  notUnderstood?: { ns: string; name: string };
  windowsCode?: number;
  relatesTo?: string;
  machine: string;
}

export function buildFault(f: FaultMessage): string {
  const spec = FAULTS[f.id];
  const code = el(NS.soap, 'Code', {}, el(NS.soap, 'Value', {}, `s:${spec.code}`));
  if (spec.subcode) code.children.push(el(NS.soap, 'Subcode', {}, el(NS.soap, 'Value', {}, `${PREFIX[spec.subcode[0]]}:${spec.subcode[1]}`)));
  const fault = el(NS.soap, 'Fault', {},
    code,
    el(NS.soap, 'Reason', {}, el(NS.soap, 'Text', { 'xml:lang': 'en-US' }, f.message)),
    el(NS.soap, 'Detail', {},
      f.faultDetail ? el(NS.wsman, 'FaultDetail', {}, f.faultDetail) : undefined,
      el(NS.wsmanfault, 'WSManFault', { Code: String(f.windowsCode ?? spec.wsmanCode), Machine: f.machine },
        el(NS.wsmanfault, 'Message', {}, f.message))));
  const header = el(NS.soap, 'Header', {},
    el(NS.wsa, 'To', {}, ANONYMOUS),
    el(NS.wsa, 'Action', {}, spec.action),
    el(NS.wsa, 'MessageID', {}, `uuid:${randomUUID()}`),
    f.relatesTo ? el(NS.wsa, 'RelatesTo', {}, f.relatesTo) : undefined);
  const declare = spec.subcode ? [spec.subcode[0]] : [];
  if (f.notUnderstood) {
    // The qname attribute is a QName: its prefix is declared right there.
    header.children.push(el(NS.soap, 'NotUnderstood', { qname: `nu:${f.notUnderstood.name}`, 'xmlns:nu': f.notUnderstood.ns }));
  }
  // A subcode is a QName in text content: its prefix must be declared on the envelope.
  const env = el(NS.soap, 'Envelope', {}, header, el(NS.soap, 'Body', {}, fault));
  return `<?xml version="1.0" encoding="UTF-8"?>${serialize(env, declare)}`;
}
