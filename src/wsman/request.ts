// From a parsed envelope to a typed request: the WS-Addressing and WS-Management headers,
// validated once here so no operation reads raw headers (DSP0226 §5, §6; MS-WSMV 2.2.4).
import { WsmanFault } from '../soap/faults.js';
import { ANONYMOUS, FAULT_DETAIL, NS } from '../soap/names.js';
import { child, children, textOf, type XmlNode } from '../soap/xml.js';
import { parseDuration, type Selectors } from '../provider-api.js';

export interface WsmanRequest {
  /** Empty for Identify, which carries no headers (DSP0226 §11). */
  action: string;
  messageId: string;
  resourceUri: string;
  selectors: Selectors;
  options: Record<string, string>;
  /** Milliseconds, already capped by the server's MaxTimeoutms. */
  operationTimeoutMs: number;
  /** The largest reply the client accepts, in bytes (w:MaxEnvelopeSize). */
  maxEnvelopeSize: number;
  locale?: string;
  /** The first element of s:Body, if any. */
  body?: XmlNode;
  /** s:Header, for the headers only one capability reads (an event forwarder's m:MachineID, w:Bookmark, e:Identifier). */
  header?: XmlNode;
  /** wsa:To: the address the client used for this service (a forwarder's Server= URL). */
  to?: string;
  identify: boolean;
}

export interface HeaderLimits {
  defaultOperationTimeoutMs: number;
  maxOperationTimeoutMs: number;
  maxEnvelopeSize: number;
}

/** Headers winrmd understands; any other header marked mustUnderstand is refused (SOAP 1.2 §5.2.3). */
const UNDERSTOOD = new Set([
  `${NS.wsa}|To`, `${NS.wsa}|Action`, `${NS.wsa}|MessageID`, `${NS.wsa}|ReplyTo`, `${NS.wsa}|FaultTo`,
  `${NS.wsman}|ResourceURI`, `${NS.wsman}|SelectorSet`, `${NS.wsman}|OptionSet`, `${NS.wsman}|OperationTimeout`,
  `${NS.wsman}|MaxEnvelopeSize`, `${NS.wsman}|Locale`,
  `${NS.wsmv}|DataLocale`, `${NS.wsmv}|SessionId`, `${NS.wsmv}|OperationID`, `${NS.wsmv}|SequenceId`,
]);

/** DSP0226 §6.2 (MaxEnvelopeSize): a service may refuse values below 8192 octets, as openwsman does. */
const MIN_ENVELOPE = 8192;

export function readRequest(envelope: XmlNode, limits: HeaderLimits): WsmanRequest {
  if (envelope.ns !== NS.soap || envelope.name !== 'Envelope') {
    throw new WsmanFault('SchemaValidationError', 'The root element is not a SOAP 1.2 Envelope.');
  }
  const header = child(envelope, NS.soap, 'Header');
  const body = child(envelope, NS.soap, 'Body');
  if (!body) throw new WsmanFault('SchemaValidationError', 'The SOAP envelope has no Body.');
  const first = body.children[0];
  const identify = first?.ns === NS.wsmid && first.name === 'Identify';

  for (const h of header?.children ?? []) {
    const mu = h.attrs.mustUnderstand;
    if ((mu === 'true' || mu === '1') && !UNDERSTOOD.has(`${h.ns}|${h.name}`)) {
      throw new WsmanFault('MustUnderstand', `The header {${h.ns}}${h.name} is marked mustUnderstand and is not supported.`, undefined, { ns: h.ns, name: h.name });
    }
  }

  const one = (ns: string, name: string): string | undefined => {
    const found = children(header, ns, name);
    if (found.length > 1) throw new WsmanFault('InvalidMessageInformationHeader', `The header ${name} appears more than once.`);
    return textOf(found[0]);
  };

  const request: WsmanRequest = {
    action: one(NS.wsa, 'Action') ?? '',
    messageId: one(NS.wsa, 'MessageID') ?? '',
    resourceUri: one(NS.wsman, 'ResourceURI') ?? '',
    selectors: {},
    options: {},
    operationTimeoutMs: limits.defaultOperationTimeoutMs,
    maxEnvelopeSize: limits.maxEnvelopeSize,
    locale: child(header, NS.wsman, 'Locale')?.attrs.lang,
    body: first,
    header,
    identify,
  };
  if (identify) return request; // Identify needs no addressing headers (DSP0226 R11-1)

  if (!request.action) throw new WsmanFault('MessageInformationHeaderRequired', 'The wsa:Action header is required.');
  request.to = one(NS.wsa, 'To');
  if (!request.messageId) throw new WsmanFault('MessageInformationHeaderRequired', 'The wsa:MessageID header is required.');
  if (request.messageId.length > 1024) {
    throw new WsmanFault('InvalidMessageInformationHeader', 'The wsa:MessageID header is not valid.');
  }
  // Replies go back on the HTTP response: only the anonymous ReplyTo is meaningful (DSP0226 §5.4.2).
  const replyTo = textOf(child(child(header, NS.wsa, 'ReplyTo'), NS.wsa, 'Address'));
  if (replyTo !== undefined && replyTo !== ANONYMOUS) {
    throw new WsmanFault('InvalidMessageInformationHeader', 'Only the anonymous wsa:ReplyTo address is supported.');
  }

  const [uri, query] = splitResourceUri(request.resourceUri);
  request.resourceUri = uri;
  request.selectors = readSelectors(child(header, NS.wsman, 'SelectorSet'));
  for (const [name, value] of query) {
    if (name in request.selectors && request.selectors[name] !== value) {
      throw new WsmanFault('InvalidSelectors', `The selector ${name} is given twice with different values.`);
    }
    request.selectors[name] = value;
  }

  for (const option of children(child(header, NS.wsman, 'OptionSet'), NS.wsman, 'Option')) {
    if (option.attrs.Name) request.options[option.attrs.Name] = textOf(option) ?? '';
  }

  const timeout = one(NS.wsman, 'OperationTimeout');
  if (timeout !== undefined) {
    const ms = parseDuration(timeout);
    if (ms === undefined || ms <= 0) throw new WsmanFault('InvalidMessageInformationHeader', `The OperationTimeout ${timeout} is not a valid xs:duration.`);
    request.operationTimeoutMs = Math.min(ms, limits.maxOperationTimeoutMs);
  }

  const maxEnvelope = one(NS.wsman, 'MaxEnvelopeSize');
  if (maxEnvelope !== undefined) {
    const n = Number(maxEnvelope);
    if (!Number.isInteger(n) || n <= 0) throw new WsmanFault('InvalidMessageInformationHeader', `The MaxEnvelopeSize ${maxEnvelope} is not a positive integer.`);
    if (n < MIN_ENVELOPE) throw new WsmanFault('EncodingLimit', `MaxEnvelopeSize must be at least ${MIN_ENVELOPE} octets.`, FAULT_DETAIL.maxEnvelopeSize);
    request.maxEnvelopeSize = Math.min(n, limits.maxEnvelopeSize);
  }
  return request;
}

function readSelectors(set: XmlNode | undefined): Selectors {
  const selectors: Selectors = {};
  for (const s of children(set, NS.wsman, 'Selector')) {
    const name = s.attrs.Name;
    if (!name) throw new WsmanFault('InvalidSelectors', 'A selector has no Name attribute.');
    if (name in selectors) throw new WsmanFault('InvalidSelectors', `The selector ${name} appears more than once.`);
    selectors[name] = textOf(s) ?? '';
  }
  return selectors;
}

/** RFC 3986 §2.1 percent-escapes; a malformed one is the client's mistake, not an InternalError. */
function unescapeSelector(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new WsmanFault('InvalidSelectors', `The selector "${text}" in the resource URI has a malformed percent-escape.`);
  }
}

/** winrm.cmd style `…/Win32_Service?Name=ssh`: selectors may ride in the resource URI's query. */
function splitResourceUri(uri: string): [string, [string, string][]] {
  const q = uri.indexOf('?');
  if (q === -1) return [uri, []];
  const pairs: [string, string][] = [];
  for (const part of uri.slice(q + 1).split('+').flatMap((p) => p.split('&'))) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new WsmanFault('InvalidSelectors', `The selector "${part}" in the resource URI has no value.`);
    pairs.push([unescapeSelector(part.slice(0, eq)), unescapeSelector(part.slice(eq + 1))]);
  }
  return [uri.slice(0, q), pairs];
}
