// A WS-Eventing subscriber for the tests: the Subscribe envelopes a subscriber writes (DSP0226
// §10.2, as Windows' and openwsman's clients lay them out) and a sink, a real HTTP listener on
// 127.0.0.1 that records each delivery and answers it as told: an Ack to w:AckRequested (relating
// to the delivery's MessageID, DSP0226 §10.7), a DeliveryRefused fault, a status, or nothing.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { envelope, URI } from './envelope.js';
import { xp } from './xpath.js';

export const EVT = {
  wse: 'http://schemas.xmlsoap.org/ws/2004/08/eventing',
  subscribe: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe',
  renew: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew',
  getStatus: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatus',
  unsubscribe: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe',
  subscriptionEnd: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd',
  push: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push',
  pushWithAck: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck',
  events: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Events',
  pull: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull',
  event: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Event',
  heartbeat: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat',
  ack: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack',
  droppedEvents: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/DroppedEvents',
  earliest: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest',
  eventLog: 'http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog',
  sel: 'http://schemas.microsoft.com/wbem/wsman/1/logrecord/sel',
  eventQuery: 'http://schemas.microsoft.com/win/2004/08/events/eventquery',
  deliveryFailure: 'http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure',
};

export interface SubscribeOptions {
  resourceUri: string;
  mode?: string;
  notifyTo?: string;
  endTo?: string;
  /** A reference parameter the sink gets back with each delivery. */
  identifier?: string;
  expires?: string;
  heartbeats?: string;
  connectionRetry?: { total: number; interval: string };
  maxElements?: number;
  maxTime?: string;
  maxEnvelopeSize?: { size: number; policy: string };
  filter?: { dialect?: string; text: string };
  bookmark?: string;
  sendBookmarks?: boolean;
  options?: Record<string, string>;
  operationTimeout?: string;
  /** DSP0226 §10.2.2: how the subscriber wants deliveries authenticated (a security profile URI). */
  authProfile?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function subscribe(o: SubscribeOptions): string {
  const ref = o.identifier ? `<a:ReferenceProperties><e:Identifier>${o.identifier}</e:Identifier></a:ReferenceProperties>` : '';
  const body = `<e:Subscribe xmlns:e="${EVT.wse}">`
    + (o.endTo ? `<e:EndTo><a:Address>${o.endTo}</a:Address>${ref}</e:EndTo>` : '')
    + `<e:Delivery Mode="${o.mode ?? EVT.push}">`
    + (o.notifyTo ? `<e:NotifyTo><a:Address>${o.notifyTo}</a:Address>${ref}</e:NotifyTo>` : '')
    + (o.authProfile ? `<w:Auth Profile="${o.authProfile}"/>` : '')
    + (o.heartbeats ? `<w:Heartbeats>${o.heartbeats}</w:Heartbeats>` : '')
    + (o.connectionRetry ? `<w:ConnectionRetry Total="${o.connectionRetry.total}">${o.connectionRetry.interval}</w:ConnectionRetry>` : '')
    + (o.maxElements ? `<w:MaxElements>${o.maxElements}</w:MaxElements>` : '')
    + (o.maxTime ? `<w:MaxTime>${o.maxTime}</w:MaxTime>` : '')
    + (o.maxEnvelopeSize ? `<w:MaxEnvelopeSize Policy="${o.maxEnvelopeSize.policy}">${o.maxEnvelopeSize.size}</w:MaxEnvelopeSize>` : '')
    + '</e:Delivery>'
    + (o.expires ? `<e:Expires>${o.expires}</e:Expires>` : '')
    + (o.filter ? `<w:Filter${o.filter.dialect ? ` Dialect="${o.filter.dialect}"` : ''}>${o.filter.text.startsWith('<') ? o.filter.text : esc(o.filter.text)}</w:Filter>` : '')
    + (o.bookmark ? `<w:Bookmark>${o.bookmark}</w:Bookmark>` : '')
    + (o.sendBookmarks ? '<w:SendBookmarks/>' : '')
    + '</e:Subscribe>';
  return envelope({ action: EVT.subscribe, resourceUri: o.resourceUri, body, options: o.options, operationTimeout: o.operationTimeout });
}

/** Renew, GetStatus or Unsubscribe of the subscription a SubscribeResponse names. */
export function manage(action: string, identifier: string, body = ''): string {
  return envelope({ action, headers: `<e:Identifier xmlns:e="${EVT.wse}">${identifier}</e:Identifier>`, body });
}

export const identifierOf = (reply: string) => xp(reply, '/s:Envelope/s:Body/e:SubscribeResponse/e:SubscriptionManager/a:ReferenceParameters/e:Identifier');
export const contextOf = (reply: string) => xp(reply, '/s:Envelope/s:Body/e:SubscribeResponse/n:EnumerationContext');

export interface Delivery {
  action: string;
  messageId: string;
  ackRequested: boolean;
  xml: string;
  at: number;
}

export type Answer = 'ack' | 'refuse' | 'silent' | number;

export interface Sink {
  url: string;
  deliveries: Delivery[];
  /** How the next deliveries are answered (an Ack where one is asked for, else 200). */
  answer: Answer;
  /** Delay before answering, in ms. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startSink(path = '/sink'): Promise<Sink> {
  const open = new Set<http.ServerResponse>();
  const sink: Sink = { url: '', deliveries: [], answer: 'ack', delayMs: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const xml = Buffer.concat(chunks).toString('utf8');
      const d: Delivery = {
        action: xp(xml, '/s:Envelope/s:Header/a:Action'),
        messageId: xp(xml, '/s:Envelope/s:Header/a:MessageID'),
        ackRequested: xp(xml, 'count(/s:Envelope/s:Header/w:AckRequested)') === '1',
        xml,
        at: Date.now(),
      };
      sink.deliveries.push(d);
      const answer = sink.answer;
      const reply = () => {
        if (answer === 'silent') return void open.add(res);
        if (typeof answer === 'number') return void res.writeHead(answer).end();
        res.writeHead(answer === 'refuse' ? 500 : 200, { 'Content-Type': 'application/soap+xml;charset=UTF-8' });
        if (answer === 'refuse') return void res.end(fault(d.messageId));
        res.end(d.ackRequested ? ack(d.messageId) : '');
      };
      if (sink.delayMs) setTimeout(reply, sink.delayMs);
      else reply();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  sink.close = () => new Promise<void>((r) => {
    for (const res of open) res.destroy();
    server.close(() => r());
    server.closeAllConnections();
  });
  return sink;
}

function ack(relatesTo: string): string {
  return `<s:Envelope xmlns:s="${URI.soap}" xmlns:a="${URI.wsa}"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:Action>${EVT.ack}</a:Action><a:MessageID>uuid:${randomUUID()}</a:MessageID><a:RelatesTo>${relatesTo}</a:RelatesTo></s:Header><s:Body/></s:Envelope>`;
}

function fault(relatesTo: string): string {
  return `<s:Envelope xmlns:s="${URI.soap}" xmlns:a="${URI.wsa}" xmlns:w="${URI.wsman}"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:RelatesTo>${relatesTo}</a:RelatesTo></s:Header>`
    + '<s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:DeliveryRefused</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">refused</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>';
}
