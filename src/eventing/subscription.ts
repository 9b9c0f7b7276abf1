// A collector subscription (source-initiated, MS-WSMV 3.1.4.1.30): what an administrator defines
// with `winrmd subscription …`, validated here once, and the m:Subscription element a Windows
// forwarder receives for it when it enumerates (MS-WSMV 2.2.4.41).
import { randomUUID } from 'node:crypto';
import { z } from 'zod/v3';
import { ANONYMOUS, DIALECT, EVENTING, NS, SECURITY_PROFILE } from '../soap/names.js';
import { el, parseXml, raw, serialize, XmlError, type XmlNode } from '../soap/xml.js';
import { globPattern } from '../config/patterns.js';

/** Clients refuse a query over more channels than this (OpenWEC's users found it; Windows says nothing). */
export const MAX_QUERY_CHANNELS = 256;

const fileOutput = z.object({
  type: z.literal('file'),
  /** A path template: {subscription}, {source} and {date} (UTC, YYYY-MM-DD) are replaced. */
  path: z.string().min(1),
  /** One JSON object per line, or each event's XML as received, one per line. */
  format: z.enum(['json', 'raw']).default('json'),
});

const port = z.number().int().min(1).max(65535);
/** JSON lines over TCP, or TLS with `tls: true` (the CA in caFile, else the system's). */
const tcpOutput = z.object({
  type: z.literal('tcp'),
  host: z.string().min(1),
  port,
  tls: z.boolean().default(false),
  caFile: z.string().optional(),
});
/** RFC 5424 over UDP, TCP or TLS (RFC 5425, octet-counted framing as RFC 6587 §3.4.1 has it on TCP). */
const syslogOutput = z.object({
  type: z.literal('syslog'),
  transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
  host: z.string().min(1),
  port: port.optional(),
  caFile: z.string().optional(),
  facility: z.number().int().min(0).max(23).default(16), // local0
});
/** A Redis stream (XADD), its key a template like a file path's. */
const redisOutput = z.object({
  type: z.literal('redis'),
  url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  stream: z.string().min(1).default('winrmd:{subscription}'),
  /** Trim the stream to about this many entries (0: never). */
  maxLen: z.number().int().min(0).default(0),
});

export const outputSchema = z.discriminatedUnion('type', [fileOutput, tcpOutput, syslogOutput, redisOutput]);
export type OutputSpec = z.infer<typeof outputSchema>;

const pattern = z.string().min(1).max(256);

export const subscriptionSpecSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$/, 'letters, digits, space, _ . - (up to 128)'),
  description: z.string().max(1024).default(''),
  /** The event query: a QueryList (MS-WSMV 2.2.4.24), as Event Viewer's custom views write it. */
  query: z.string().min(1).max(1_000_000),
  contentFormat: z.enum(['Raw', 'RenderedText']).default('Raw'),
  heartbeatIntervalS: z.number().int().min(1).max(86_400 * 7).default(3600),
  /** Batching (MS-WSMV's MaxTime, MaxElements, MaxEnvelopeSize): what closes a batch on the source. */
  maxTimeS: z.number().int().min(1).max(86_400).default(30),
  maxItems: z.number().int().min(1).max(100_000).optional(),
  maxEnvelopeSize: z.number().int().min(8192).max(10_000_000).default(512_000),
  readExistingEvents: z.boolean().default(false),
  /** A culture name (en-US): the language of RenderedText. */
  locale: z.string().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/).optional(),
  ignoreChannelError: z.boolean().default(true),
  connectionRetry: z.object({ count: z.number().int().min(0).max(100).default(5), intervalS: z.number().int().min(0).max(86_400).default(60) }).default({}),
  /**
   * Which sources it applies to, by principal (a certificate's subject common name, a user name):
   * `*` wildcards, case-insensitive; an empty allow list admits every source the deny list does not name.
   */
  sources: z.object({ allow: z.array(pattern).default([]), deny: z.array(pattern).default([]) }).default({}),
  /** The Server= paths it is offered on (`/wsman/SubscriptionManager/WEC`); empty: every path. */
  uris: z.array(z.string().regex(/^\/wsman(\/|$)/, 'a URL path under /wsman/')).default([]),
  outputs: z.array(outputSchema).default([]),
}).refine((s) => (s.connectionRetry.count === 0) === (s.connectionRetry.intervalS === 0), {
  // MS-WSMV 3.1.4.1.30.2: an interval and a count are both zero or both non-zero.
  message: 'connectionRetry count and intervalS are both zero or both non-zero',
  path: ['connectionRetry'],
});

export type SubscriptionSpec = z.infer<typeof subscriptionSpecSchema>;

/** A stored subscription: its spec, a stable id, and the Version sources compare. */
export interface Subscription extends SubscriptionSpec {
  id: string;
  /** A new one on every change, so that sources subscribe again (MS-WSMV 2.2.4.41). */
  version: string;
  enabled: boolean;
  updatedAt: string;
}

export class SubscriptionError extends Error {}

/** Validate a spec; every problem in one message. */
export function parseSpec(input: unknown): SubscriptionSpec {
  const result = subscriptionSpecSchema.safeParse(input);
  if (!result.success) throw new SubscriptionError(result.error.issues.map((i) => `${i.path.join('.') || '(subscription)'}: ${i.message}`).join('; '));
  // Kept as winrmd writes it (no XML declaration, no indentation): it is placed verbatim in every offer.
  return { ...result.data, query: serialize(withoutIndentation(readQuery(result.data.query))) };
}

/** Whitespace between elements is layout, not content (a Select's XPath is kept as it is). */
function withoutIndentation(node: XmlNode): XmlNode {
  return { ...node, text: node.children.length > 0 && node.text.trim() === '' ? '' : node.text, children: node.children.map(withoutIndentation) };
}

/** The channels a QueryList reads. */
export function queryChannels(query: string): string[] {
  return channelsOf(readQuery(query));
}

/** A QueryList of Query elements of Select and Suppress elements with a Path (MS-WSMV 2.2.4.24), or an error saying what is wrong. */
function readQuery(query: string): XmlNode {
  let root: XmlNode;
  try {
    root = parseXml(query, { maxDepth: 16, maxAttributes: 16 });
  } catch (err) {
    throw new SubscriptionError(`the query is not well-formed XML: ${(err as XmlError).message}`);
  }
  if (root.name !== 'QueryList' || root.ns !== '') throw new SubscriptionError('the query must be a QueryList (MS-WSMV 2.2.4.24)');
  channelsOf(root);
  return root;
}

function channelsOf(root: XmlNode): string[] {
  const channels = new Set<string>();
  const queries = root.children.filter((c) => c.name === 'Query');
  if (queries.length === 0) throw new SubscriptionError('the QueryList has no Query');
  for (const q of queries) {
    const parts = q.children.filter((c) => c.name === 'Select' || c.name === 'Suppress');
    if (!parts.some((c) => c.name === 'Select')) throw new SubscriptionError('a Query has no Select');
    for (const part of parts) {
      const channel = part.attrs.Path ?? q.attrs.Path;
      if (!channel) throw new SubscriptionError(`a ${part.name} has no Path (a channel such as Security)`);
      if (part.name === 'Select') channels.add(channel);
    }
  }
  if (channels.size > MAX_QUERY_CHANNELS) throw new SubscriptionError(`the query reads ${channels.size} channels; Windows forwarders refuse more than ${MAX_QUERY_CHANNELS}`);
  return [...channels];
}

/** The simple case: channels, levels (1 critical … 5 verbose) and event ids, as a QueryList. */
export function simpleQuery(channels: string[], levels: number[] = [], eventIds: number[] = []): string {
  const terms = [
    levels.length ? `(${levels.map((l) => `Level=${l}`).join(' or ')})` : '',
    eventIds.length ? `(${eventIds.map((id) => `EventID=${id}`).join(' or ')})` : '',
  ].filter(Boolean);
  const xpath = terms.length ? `*[System[${terms.join(' and ')}]]` : '*';
  const selects = channels.map((c) => serialize(el('', 'Select', { Path: c }, xpath))).join('');
  return `<QueryList><Query Id="0">${selects}</Query></QueryList>`;
}

/**
 * A spec saved: the id it had (or a new one), always a new version (sources subscribe again,
 * MS-WSMV 2.2.4.41), enabled as asked or as it was (a new one starts disabled).
 */
export function revision(spec: SubscriptionSpec, existing: Subscription | undefined, enabled?: boolean): Subscription {
  return { ...spec, id: existing?.id ?? randomUUID(), version: randomUUID(), enabled: enabled ?? existing?.enabled ?? false, updatedAt: new Date().toISOString() };
}

/** The spec of a stored subscription: what `export` writes and `import` reads back. */
export function specOf({ id, version, enabled, updatedAt, ...spec }: Subscription): SubscriptionSpec {
  return spec;
}

/** A glob with `*`, case-insensitive, anchored. */
function globMatch(glob: string, name: string): boolean {
  return globPattern(glob).test(name);
}

/** Whether a subscription applies to a source: not denied, and allowed (or no allow list). */
export function appliesTo(sub: Subscription, source: string): boolean {
  if (sub.sources.deny.some((p) => globMatch(p, source))) return false;
  return sub.sources.allow.length === 0 || sub.sources.allow.some((p) => globMatch(p, source));
}

/** Whether a subscription is offered on the path a source enumerated (`/wsman/` and `/wsman` are one). */
export function offeredOn(sub: Subscription, path: string): boolean {
  const norm = (p: string) => p.replace(/\/+$/, '').toLowerCase() || '/';
  return sub.uris.length === 0 || sub.uris.some((u) => norm(u) === norm(path));
}

/** xs:duration in seconds with milliseconds, as Windows writes them (PT3600.000S). */
const seconds = (s: number) => `PT${s}.000S`;

export interface SubscriptionOffer {
  /** Where this source delivers: scheme://host:port of the address it enumerated, and the subscription's path. */
  deliveryAddress: string;
  /** The authentication the source uses for deliveries (MS-WSMV 3.1.4.1.30.3). */
  policy: { kind: 'certificate'; issuerThumbprints: string[] } | { kind: 'negotiate' };
  /** The bookmark stored for this source, if any. */
  bookmark?: string;
}

/**
 * One m:Subscription (MS-WSMV 2.2.4.41): the Version and a whole Subscribe envelope, which the
 * forwarder processes as if it had received it (3.1.4.1.30). The inner envelope declares its own
 * namespaces so that it stands alone wherever it is read from.
 */
export function subscriptionElement(sub: Subscription, offer: SubscriptionOffer): XmlNode {
  const mu = { 's:mustUnderstand': 'true' };
  const nil = { 'xsi:nil': 'true' };
  const option = (name: string, value?: string) => el(NS.wsman, 'Option', value === undefined ? { Name: name, ...nil } : { Name: name }, value);
  const locale = sub.locale ? el(NS.wsman, 'Locale', { 'xml:lang': sub.locale, 's:mustUnderstand': 'false' }) : undefined;
  const header = el(NS.soap, 'Header', {},
    el(NS.wsa, 'Action', mu, EVENTING.subscribe),
    el(NS.wsa, 'MessageID', {}, `uuid:${randomUUID().toUpperCase()}`),
    el(NS.wsa, 'To', mu, ANONYMOUS),
    el(NS.wsman, 'ResourceURI', mu, EVENTING.eventLog),
    el(NS.wsa, 'ReplyTo', {}, el(NS.wsa, 'Address', mu, ANONYMOUS)),
    el(NS.wsman, 'MaxEnvelopeSize', mu, String(sub.maxEnvelopeSize)),
    // Booleans are options present with xsi:nil (MS-WSMV 3.1.4.1.30.1).
    el(NS.wsman, 'OptionSet', {},
      option('SubscriptionName', sub.name),
      option('Compression', 'SLDC'),
      option('CDATA'),
      option('ContentFormat', sub.contentFormat),
      sub.ignoreChannelError ? option('IgnoreChannelError') : undefined,
      sub.readExistingEvents ? option('ReadExistingEvents') : undefined),
    locale);
  const reference = () => el(NS.wsa, 'ReferenceProperties', {}, el(NS.wse, 'Identifier', {}, sub.version));
  const policy = offer.policy.kind === 'certificate'
    ? offer.policy.issuerThumbprints.map((t) => el(NS.policy, 'All', {},
      el(NS.authentication, 'Authentication', { Profile: SECURITY_PROFILE.httpsMutual },
        el(NS.authentication, 'ClientCertificate', {}, el(NS.authentication, 'Thumbprint', { Role: 'issuer' }, t)))))
    : [el(NS.policy, 'All', {}, el(NS.authentication, 'Authentication', { Profile: SECURITY_PROFILE.httpSpnego }))];
  const retry = sub.connectionRetry;
  const delivery = el(NS.wse, 'Delivery', { Mode: EVENTING.eventsMode },
    el(NS.wsman, 'Heartbeats', {}, seconds(sub.heartbeatIntervalS)),
    el(NS.wse, 'NotifyTo', {},
      el(NS.wsa, 'Address', {}, offer.deliveryAddress),
      reference(),
      el(NS.policy, 'Policy', {}, el(NS.policy, 'ExactlyOne', {}, ...policy))),
    el(NS.wsman, 'ConnectionRetry', { Total: String(retry.count) }, `PT${retry.intervalS}.0S`),
    el(NS.wsman, 'MaxTime', {}, seconds(sub.maxTimeS)),
    sub.maxItems ? el(NS.wsman, 'MaxElements', {}, String(sub.maxItems)) : undefined,
    el(NS.wsman, 'MaxEnvelopeSize', { Policy: 'Notify' }, String(sub.maxEnvelopeSize)),
    sub.locale ? el(NS.wsman, 'Locale', { 'xml:lang': sub.locale }) : undefined,
    el(NS.wsman, 'ContentEncoding', {}, 'UTF-16'));
  // A stored bookmark resumes after it; ReadExistingEvents without one replays the logs (DSP0226 §10.2.6).
  const bookmark = offer.bookmark ? raw(offer.bookmark) : sub.readExistingEvents ? EVENTING.bookmarkEarliest : undefined;
  const body = el(NS.soap, 'Body', {},
    el(NS.wse, 'Subscribe', {},
      // EndTo is NotifyTo's address (a forwarder refuses another, 0x80338096).
      el(NS.wse, 'EndTo', {}, el(NS.wsa, 'Address', {}, offer.deliveryAddress), reference()),
      delivery,
      el(NS.wsman, 'Filter', { Dialect: DIALECT.eventQuery }, raw(sub.query)),
      bookmark === undefined ? undefined : el(NS.wsman, 'Bookmark', {}, bookmark),
      el(NS.wsman, 'SendBookmarks')));
  const envelope = serialize(el(NS.soap, 'Envelope', {}, header, body));
  return el(NS.subscription, 'Subscription', {}, el(NS.subscription, 'Version', {}, `uuid:${sub.version.toUpperCase()}`), raw(envelope));
}
