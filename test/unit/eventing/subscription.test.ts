// Subscription definitions (MS-WSMV 3.1.4.1.30) and the m:Subscription a forwarder receives
// (2.2.4.41): validation with one message per problem, which sources and paths a subscription
// applies to, and the offer written for the Negotiate policy with a stored bookmark.
import { describe, expect, it } from 'vitest';
import { parseOutput } from '../../../src/eventing/subscription-cli.js';
import { appliesTo, offeredOn, parseSpec, queryChannels, simpleQuery, subscriptionElement, type Subscription } from '../../../src/eventing/subscription.js';
import { serialize } from '../../../src/soap/xml.js';
import { select } from '../../helpers/wef-source.js';
import { parse } from '../../helpers/xpath.js';
import { specNamed } from '../store/contracts/collector-store.js';

const stored = (extra: Partial<Subscription> = {}): Subscription => ({ ...parseSpec(specNamed('s')), id: '6f1c0a1e-0000-4000-8000-000000000001', version: 'ab12cd34-0000-4000-8000-000000000002', enabled: true, updatedAt: '', ...extra });

describe('subscription definitions', () => {
  it('the simple form becomes a QueryList: channels, levels and event ids', () => {
    expect(simpleQuery(['Security', 'System'], [1, 2], [4624])).toBe(
      '<QueryList><Query Id="0"><Select Path="Security">*[System[(Level=1 or Level=2) and (EventID=4624)]]</Select><Select Path="System">*[System[(Level=1 or Level=2) and (EventID=4624)]]</Select></Query></QueryList>');
    expect(queryChannels(simpleQuery(['Application']))).toEqual(['Application']);
  });

  it('keeps a QueryList as one line, XPath comparisons escaped, no XML declaration', () => {
    const query = `<?xml version="1.0"?>\n<QueryList>\n  <Query Id="0" Path="Security">\n    <Select>*[System[TimeCreated[timediff(@SystemTime) &lt;= 86400000]]]</Select>\n    <Suppress Path="Security">*[System[EventID=4662]]</Suppress>\n  </Query>\n</QueryList>`;
    const spec = parseSpec({ ...specNamed('q'), query });
    expect(spec.query).toBe('<QueryList><Query Id="0" Path="Security"><Select>*[System[TimeCreated[timediff(@SystemTime) &lt;= 86400000]]]</Select><Suppress Path="Security">*[System[EventID=4662]]</Suppress></Query></QueryList>');
  });

  it.each([
    ['a name with a slash', { name: 'a/b' }, /name: letters/],
    ['a query that is not XML', { query: '<QueryList>' }, /not well-formed XML/],
    ['a query that is not a QueryList', { query: '<Query/>' }, /must be a QueryList/],
    ['a Select without a channel', { query: '<QueryList><Query Id="0"><Select>*</Select></Query></QueryList>' }, /Select has no Path/],
    ['a Query without a Select', { query: '<QueryList><Query Id="0"/></QueryList>' }, /Query has no Select/],
    ['more channels than Windows accepts', { query: simpleQuery(Array.from({ length: 257 }, (_, i) => `C${i}`)) }, /257 channels/],
    ['a retry interval without a count', { connectionRetry: { count: 0, intervalS: 60 } }, /both zero or both non-zero/],
    ['a path outside /wsman/', { uris: ['/other'] }, /under \/wsman\//],
    ['a heartbeat of zero', { heartbeatIntervalS: 0 }, /heartbeatIntervalS/],
    ['an output of an unknown kind', { outputs: [{ type: 'kafka' }] }, /outputs\.0\.type/],
  ])('refuses %s', (_, change, message) => {
    expect(() => parseSpec({ ...specNamed('x'), ...change })).toThrow(message);
  });

  it('applies to sources by principal, case-insensitively; deny wins; no allow list admits all', () => {
    const sub = stored({ sources: { allow: ['ws*.example.test', 'DC01$'], deny: ['ws9*'] } });
    expect(appliesTo(sub, 'WS01.EXAMPLE.TEST')).toBe(true);
    expect(appliesTo(sub, 'dc01$')).toBe(true);
    expect(appliesTo(sub, 'ws90.example.test')).toBe(false);
    expect(appliesTo(sub, 'laptop.example.test')).toBe(false);
    expect(appliesTo(stored(), 'anything')).toBe(true);
    // A pattern is a glob, not a regular expression.
    expect(appliesTo(stored({ sources: { allow: ['ws.1'], deny: [] } }), 'wsx1')).toBe(false);
  });

  it('is offered on its paths (a trailing slash or not), or on every path when it names none', () => {
    expect(offeredOn(stored(), '/wsman/anything')).toBe(true);
    const sub = stored({ uris: ['/wsman/SubscriptionManager/WEC'] });
    expect(offeredOn(sub, '/wsman/subscriptionmanager/wec/')).toBe(true);
    expect(offeredOn(sub, '/wsman/')).toBe(false);
  });
});

describe('the offer (m:Subscription)', () => {
  it('for a Negotiate source with a stored bookmark: the spnego-kerberos policy and the bookmark, not earliest', () => {
    const bookmark = '<BookmarkList><Bookmark Channel="Security" RecordId="77" IsCurrent="true"/></BookmarkList>';
    const xml = serialize(subscriptionElement(stored({ readExistingEvents: true }), { deliveryAddress: 'http://collector:5985/wsman/subscriptions/x', policy: { kind: 'negotiate' }, bookmark }));
    const doc = parse(xml) as unknown as Node;
    const str = (e: string) => String(select(`string(${e})`, doc));
    expect(str('/m:Subscription/m:Version')).toBe('uuid:AB12CD34-0000-4000-8000-000000000002');
    expect(str('//e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication/@Profile')).toBe('http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos');
    expect(str('count(//e:NotifyTo/a:ReferenceProperties/e:Identifier)')).toBe('1');
    expect(str('//e:EndTo/a:ReferenceProperties/e:Identifier')).toBe('ab12cd34-0000-4000-8000-000000000002');
    expect(str('//w:Bookmark/BookmarkList/Bookmark/@RecordId')).toBe('77');
    expect(xml).not.toContain('bookmark/earliest');
    // Without ReadExistingEvents nor a bookmark: no w:Bookmark at all (start at the next event).
    const fresh = serialize(subscriptionElement(stored(), { deliveryAddress: 'x', policy: { kind: 'negotiate' } }));
    expect(fresh).not.toContain('Bookmark>');
    expect(fresh).toContain('SendBookmarks');
  });

  it('the inner envelope stands alone: it declares its own namespaces', () => {
    const xml = serialize(subscriptionElement(stored(), { deliveryAddress: 'x', policy: { kind: 'certificate', issuerThumbprints: ['AA', 'BB'] } }));
    const inner = xml.slice(xml.indexOf('<s:Envelope'), xml.lastIndexOf('</m:Subscription>'));
    const doc = parse(inner) as unknown as Node;
    expect(String(select('count(//c:All/auth:Authentication/auth:ClientCertificate/auth:Thumbprint[@Role="issuer"])', doc))).toBe('2');
  });
});

describe('outputs in one word (winrmd subscription --output)', () => {
  it.each([
    ['json:/var/log/w/{source}.jsonl', { type: 'file', format: 'json', path: '/var/log/w/{source}.jsonl' }],
    ['raw:relative.xml', { type: 'file', format: 'raw', path: 'relative.xml' }],
    ['tcp://siem.example:5170', { type: 'tcp', host: 'siem.example', port: 5170, tls: false }],
    ['tcps://[::1]:6000', { type: 'tcp', host: '::1', port: 6000, tls: true }],
    ['syslog://logs.example', { type: 'syslog', transport: 'udp', host: 'logs.example', facility: 16 }],
    ['syslog+tls://logs.example:6514', { type: 'syslog', transport: 'tls', host: 'logs.example', port: 6514, facility: 16 }],
    ['redis://:s3cret@127.0.0.1:6379#wef:{source}', { type: 'redis', url: 'redis://:s3cret@127.0.0.1:6379', stream: 'wef:{source}', maxLen: 0 }],
  ])('%s', (text, spec) => {
    expect(parseOutput(text)).toEqual(spec);
  });

  it('refuses what it cannot read', () => {
    expect(() => parseOutput('tcp://host')).toThrow(/a port is needed/);
    expect(() => parseOutput('kafka://broker:9092')).toThrow(/unknown kind kafka:/);
  });
});
