// A Windows event forwarder (a WEF source), reproduced from MS-WSMV 3.1.4.1.30 and §4.6 and the
// documented behaviour of Windows' forwarding plugin, since no Windows machine runs here: `s:`
// envelopes in UTF-16LE with a byte-order mark, upper-case MessageIDs, m:MachineID, the
// p:OperationID quirk (mustUnderstand="true " with a trailing space), SLDC-compressed deliveries,
// End after the enumeration, one batch in flight per subscription with its bookmark. It speaks
// over HTTPS with a client certificate (no Authorization header, as Windows sends none) or over
// HTTP with NTLM and message encryption (a new connection and handshake per address).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { ENCRYPTED_CONTENT_TYPE, openMessage, sealMessage } from '../../src/http/encryption.js';
import type { MessageSecurity } from '../../src/auth/authenticator.js';
import { authenticateMessage, clientSecurity, negotiateMessage } from './ntlm-client.js';
import { sldcEncode } from './sldc-encoder.js';
import { parse } from './xpath.js';
import xpath from 'xpath';

export const WEF = {
  subscriptionManager: 'http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription',
  fullDuplex: 'http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex',
  end: 'http://schemas.microsoft.com/wbem/wsman/1/wsman/End',
  events: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Events',
  event: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Event',
  heartbeat: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat',
  ack: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack',
  subscriptionEnd: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd',
  enumerate: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate',
};

/** Namespaces for reading the collector's replies. */
export const select = xpath.useNamespaces({
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  e: 'http://schemas.xmlsoap.org/ws/2004/08/eventing',
  n: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  m: 'http://schemas.microsoft.com/wbem/wsman/1/subscription',
  c: 'http://schemas.xmlsoap.org/ws/2002/12/policy',
  auth: 'http://schemas.microsoft.com/wbem/wsman/1/authentication',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xml: 'http://www.w3.org/XML/1998/namespace',
});

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as bytes on the wire, after decryption. */
  bytes: Buffer;
  /** Decoded by its byte-order mark (UTF-16LE) or as UTF-8. */
  text: string;
}

/** One subscription as the forwarder read it from the EnumerateResponse. */
export interface Offer {
  version: string;
  name: string;
  deliveryAddress: string;
  endTo: string;
  identifier: string;
  query: string;
  bookmark?: string;
  contentFormat: string;
  heartbeats: string;
  /** The raw m:Subscription element's inner Subscribe envelope, for XPath. */
  envelope: Node;
}

export type Transport =
  | { kind: 'certificate'; cert: string; key: string; ca?: string }
  | { kind: 'ntlm'; user: string; password: string };

const ENCODING = 'application/soap+xml;charset=UTF-16';

function decode(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  return bytes.toString('utf8');
}

const utf16 = (xml: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);

/** An envelope as a forwarder puts it on the wire: UTF-16LE with a BOM, SLDC-compressed when asked. */
export function prepare(xml: string, compressed: boolean): { bytes: Buffer; compressed: boolean } {
  const bytes = utf16(xml);
  return { bytes: compressed ? sldcEncode(bytes) : bytes, compressed };
}

/** One keep-alive connection to one address, authenticated as the transport says. */
class Connection {
  private readonly agent: http.Agent;
  private security?: MessageSecurity;

  constructor(private readonly url: string, private readonly transport: Transport) {
    this.agent = url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, ...(transport.kind === 'certificate' ? { cert: transport.cert, key: transport.key } : {}) })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  private raw(body: Buffer, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const lib = this.url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(this.url, {
        method: 'POST', agent: this.agent,
        headers: { 'Content-Type': ENCODING, 'Content-Length': String(body.length), 'User-Agent': 'Microsoft WinRM Client', Connection: 'Keep-Alive', ...headers },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** NTLM's three legs on this connection, the last with an empty body, as Windows does. */
  private async handshake(user: string, password: string): Promise<void> {
    const negotiate = negotiateMessage();
    const first = await this.raw(Buffer.alloc(0), { Authorization: `Negotiate ${negotiate.toString('base64')}` });
    const header = String(first.headers['www-authenticate'] ?? '');
    const challenge = Buffer.from(header.slice(header.indexOf(' ') + 1), 'base64');
    const auth = authenticateMessage(negotiate, challenge, { user, password });
    const done = await this.raw(Buffer.alloc(0), { Authorization: `Negotiate ${auth.message.toString('base64')}` });
    if (done.status !== 200) throw new Error(`NTLM handshake refused: ${done.status}`);
    this.security = clientSecurity(auth.exportedSessionKey, auth.flags);
  }

  async post(body: Buffer, headers: Record<string, string>): Promise<Reply> {
    if (this.transport.kind === 'ntlm') {
      if (!this.security) await this.handshake(this.transport.user, this.transport.password);
      const sealed = sealMessage(body, ENCODING, this.security!);
      const reply = await this.raw(sealed, { ...headers, 'Content-Type': ENCRYPTED_CONTENT_TYPE });
      const type = String(reply.headers['content-type'] ?? '');
      const plain = type.startsWith('multipart/encrypted') ? openMessage(reply.body, type, this.security!).plaintext : reply.body;
      return { status: reply.status, headers: reply.headers, bytes: plain, text: decode(plain) };
    }
    const reply = await this.raw(body, headers);
    return { status: reply.status, headers: reply.headers, bytes: reply.body, text: decode(reply.body) };
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface SourceOptions {
  /** The Group Policy's Server= URL: `https://host:port/wsman/SubscriptionManager/WEC`. */
  server: string;
  machineId: string;
  transport: Transport;
  /** Deliveries compressed with SLDC (the Compression option every Windows subscription sets). */
  compress?: boolean;
}

export class WefSource {
  private readonly connections = new Map<string, Connection>();
  private readonly sessionId = `uuid:${randomUUID().toUpperCase()}`;

  constructor(readonly o: SourceOptions) {}

  private connection(url: string): Connection {
    let c = this.connections.get(url);
    if (!c) this.connections.set(url, (c = new Connection(url, this.o.transport)));
    return c;
  }

  /** A Windows forwarder's header block (MS-WSMV §4.6): the quirks included. */
  private header(to: string, action: string, extra = '', resourceUri?: string): string {
    return `<s:Header><a:To>${to}</a:To>${resourceUri ? `<w:ResourceURI s:mustUnderstand="true">${resourceUri}</w:ResourceURI>` : ''}`
      + `<m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">${this.o.machineId}</m:MachineID>`
      + `<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>`
      + `<a:Action s:mustUnderstand="true">${action}</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>`
      + `<a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" />`
      + `<p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">${this.sessionId}</p:SessionId>`
      + `<p:OperationID s:mustUnderstand="true ">uuid:${randomUUID().toUpperCase()}</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId>`
      + `<w:OperationTimeout>PT60.000S</w:OperationTimeout>${extra}</s:Header>`;
  }

  private envelope(header: string, body: string): string {
    return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" `
      + `xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" `
      + `xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">${header}<s:Body>${body}</s:Body></s:Envelope>`;
  }

  /** POST an envelope in UTF-16LE, SLDC-compressed when asked. */
  async send(url: string, xml: string, compress = false): Promise<Reply> {
    const bytes = utf16(xml);
    return this.connection(url).post(compress ? sldcEncode(bytes) : bytes, compress ? { 'Content-Encoding': 'SLDC' } : {});
  }

  /** The Enumerate a forwarder sends to its Server= address. */
  enumerateEnvelope(): string {
    return this.envelope(this.header(this.o.server, WEF.enumerate, '', WEF.subscriptionManager), '<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>');
  }

  heartbeatEnvelope(offer: Offer): string {
    return this.envelope(this.deliveryHeader(offer, WEF.heartbeat), '<w:Events></w:Events>');
  }

  /** Enumerate on the Server= address, then End on the same connection (which gets 204). */
  async enumerate(): Promise<{ reply: Reply; offers: Offer[]; end: Reply; messageId: string }> {
    const xml = this.enumerateEnvelope();
    const messageId = /<a:MessageID>([^<]+)</.exec(xml)![1]!;
    const reply = await this.send(this.o.server, xml);
    const offers = reply.status === 200 ? readOffers(reply.text) : [];
    // The End is labelled SLDC without being compressed, as Windows sends it.
    const end = await this.connection(this.o.server).post(utf16(this.envelope(this.header(this.o.server, WEF.end, '', WEF.fullDuplex), '')), { 'Content-Encoding': 'SLDC' });
    this.connection(this.o.server).close();
    this.connections.delete(this.o.server);
    return { reply, offers, end, messageId };
  }

  private deliveryHeader(offer: Offer, action: string, bookmark?: string): string {
    const extra = `<e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">${offer.identifier}</e:Identifier>`
      + `${bookmark ? `<w:Bookmark>${bookmark}</w:Bookmark>` : ''}<w:AckRequested/>`;
    return this.header(offer.deliveryAddress, action, extra);
  }

  heartbeat(offer: Offer): Promise<Reply> {
    return this.send(offer.deliveryAddress, this.heartbeatEnvelope(offer), this.o.compress);
  }

  /** One batch: each event in CDATA, as the CDATA option asks, and the bookmark after the last. */
  events(offer: Offer, events: string[], bookmark: string): Promise<Reply> {
    return this.send(offer.deliveryAddress, this.eventsEnvelope(offer, events, bookmark), this.o.compress);
  }

  eventsEnvelope(offer: Offer, events: string[], bookmark: string): string {
    const body = `<w:Events>${events.map((e) => `<w:Event Action="${WEF.event}"><![CDATA[${e}]]></w:Event>`).join('')}</w:Events>`;
    return this.envelope(this.deliveryHeader(offer, WEF.events, bookmark), body);
  }

  /** Bytes made once (`prepare`), sent as they are: what a load generator sends over and over. */
  sendPrepared(url: string, body: { bytes: Buffer; compressed: boolean }): Promise<Reply> {
    return this.connection(url).post(body.bytes, body.compressed ? { 'Content-Encoding': 'SLDC' } : {});
  }

  subscriptionEnd(offer: Offer): Promise<Reply> {
    const body = `<e:SubscriptionEnd><e:SubscriptionManager><a:Address>${offer.endTo}</a:Address><a:ReferenceProperties><e:Identifier>${offer.identifier}</e:Identifier></a:ReferenceProperties></e:SubscriptionManager>`
      + `<e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling</e:Status></e:SubscriptionEnd>`;
    return this.send(offer.endTo, this.envelope(this.deliveryHeader(offer, WEF.subscriptionEnd), body), this.o.compress);
  }

  close(): void {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}

const str = (expr: string, node: Node) => String(select(`string(${expr})`, node));

/** Each m:Subscription: the inner envelope parsed on its own, as the forwarder processes it (MS-WSMV 3.1.4.1.30). */
export function readOffers(xml: string): Offer[] {
  const doc = parse(xml) as unknown as Node;
  return (select('//m:Subscription', doc) as Node[]).map((sub) => {
    const envelope = (select('s:Envelope', sub) as Node[])[0]!;
    const subscribe = (select('s:Body/e:Subscribe', envelope) as Node[])[0]!;
    const bookmarkNode = (select('w:Bookmark', subscribe) as Node[])[0];
    const filter = (select('w:Filter/*', subscribe) as Node[])[0];
    return {
      version: str('m:Version', sub),
      name: str(`s:Header/w:OptionSet/w:Option[@Name='SubscriptionName']`, envelope),
      deliveryAddress: str('e:Delivery/e:NotifyTo/a:Address', subscribe),
      endTo: str('e:EndTo/a:Address', subscribe),
      identifier: str('e:Delivery/e:NotifyTo/a:ReferenceProperties/e:Identifier', subscribe),
      query: filter ? filter.toString() : '',
      bookmark: bookmarkNode ? ((select('*', bookmarkNode) as Node[])[0]?.toString() ?? str('.', bookmarkNode)) : undefined,
      contentFormat: str(`s:Header/w:OptionSet/w:Option[@Name='ContentFormat']`, envelope),
      heartbeats: str('e:Delivery/w:Heartbeats', subscribe),
      envelope,
    };
  });
}

/** A Windows-shaped event, written for these tests (System, EventData; RenderingInfo when rendered). */
export function windowsEvent(o: { id: number; recordId: number; channel?: string; computer?: string; data?: Record<string, string>; message?: string; time?: string }): string {
  const channel = o.channel ?? 'Security';
  const data = Object.entries(o.data ?? {}).map(([k, v]) => `<Data Name='${k}'>${v}</Data>`).join('');
  const rendering = o.message ? `<RenderingInfo Culture='en-US'><Message>${o.message}</Message><Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>${channel}</Channel><Provider>Microsoft Windows security auditing.</Provider><Keywords><Keyword>Audit Success</Keyword></Keywords></RenderingInfo>` : '';
  return `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>`
    + `<EventID>${o.id}</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>`
    + `<TimeCreated SystemTime='${o.time ?? '2026-12-07T10:00:00.000000000Z'}'/><EventRecordID>${o.recordId}</EventRecordID><Correlation/>`
    + `<Execution ProcessID='700' ThreadID='1234'/><Channel>${channel}</Channel><Computer>${o.computer ?? 'ws01.example.test'}</Computer><Security/></System>`
    + `<EventData>${data}</EventData>${rendering}</Event>`;
}

/** What a forwarder sends first after it (re-)creates a subscription: its event 111, no record id. */
export function subscriptionCreatedEvent(): string {
  return `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-EventForwarder'/><EventID>111</EventID>`
    + `<TimeCreated SystemTime='2026-12-07T10:05:00.000Z'/><Computer>ws01.example.test</Computer></System><SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent></Event>`;
}

/** The BookmarkList a forwarder sends after a batch (one Bookmark per channel). */
export function bookmarkList(channel: string, recordId: number): string {
  return `<BookmarkList><Bookmark Channel="${channel}" RecordId="${recordId}" IsCurrent="true"/></BookmarkList>`;
}
