import { describe, expect, it } from 'vitest';
import { WsmanFault } from '../../../src/soap/faults.js';
import { parseXml } from '../../../src/soap/xml.js';
import { parseDuration } from '../../../src/provider-api.js';
import { readRequest } from '../../../src/wsman/request.js';
import { ACTIONS, envelope, identify, URI } from '../../helpers/envelope.js';

const limits = { defaultOperationTimeoutMs: 60_000, maxOperationTimeoutMs: 60_000, maxEnvelopeSize: 512_000 };
const read = (xml: string) => readRequest(parseXml(xml, { maxDepth: 64, maxAttributes: 64 }), limits);
const faultOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as WsmanFault).id;
  }
  return undefined;
};

describe('readRequest', () => {
  it('reads the headers pywinrm sends (env: prefix)', () => {
    const r = read(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_Service`, selectors: { Name: 'ssh' }, options: { WINRS_NOPROFILE: 'TRUE' }, messageId: 'uuid:ABC', operationTimeout: 'PT20S' }));
    expect(r).toMatchObject({
      action: ACTIONS.get, messageId: 'uuid:ABC', resourceUri: `${URI.wmi}/Win32_Service`,
      selectors: { Name: 'ssh' }, options: { WINRS_NOPROFILE: 'TRUE' }, operationTimeoutMs: 20_000, maxEnvelopeSize: 153_600, locale: 'en-US', identify: false,
    });
  });
  it('reads the same request written with s: (Windows)', () => {
    expect(read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', prefix: 's' })).resourceUri).toBe('urn:r');
  });
  it('knows Identify, which needs no addressing headers', () => {
    expect(read(identify()).identify).toBe(true);
  });
  it('caps OperationTimeout at the server maximum', () => {
    expect(read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', operationTimeout: 'PT1H' })).operationTimeoutMs).toBe(60_000);
  });
  it('lets mustUnderstand="false" headers pass and refuses unknown mustUnderstand="true" ones', () => {
    expect(faultOf(() => read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', headers: '<z:Y xmlns:z="urn:z" mustUnderstand="false"/>' })))).toBeUndefined();
    expect(faultOf(() => read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', headers: '<z:Y xmlns:z="urn:z" mustUnderstand="true"/>' })))).toBe('MustUnderstand');
    expect(faultOf(() => read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', headers: `<z:Y xmlns:z="urn:z" xmlns:e="${URI.soap}" e:mustUnderstand="1"/>` })))).toBe('MustUnderstand');
  });
  it('splits winrm.cmd style selectors out of the resource URI', () => {
    const r = read(envelope({ action: ACTIONS.get, resourceUri: `${URI.wmi}/Win32_Service?Name=ssh+State=Running` }));
    expect(r.resourceUri).toBe(`${URI.wmi}/Win32_Service`);
    expect(r.selectors).toEqual({ Name: 'ssh', State: 'Running' });
  });
  it('faults on duplicated selectors and headers, and a missing Action', () => {
    expect(faultOf(() => read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', headers: `<w:SelectorSet><w:Selector Name="a">1</w:Selector><w:Selector Name="a">2</w:Selector></w:SelectorSet>` })))).toBe('InvalidSelectors');
    expect(faultOf(() => read(envelope({ action: ACTIONS.get, resourceUri: 'urn:r', headers: '<a:MessageID>uuid:x</a:MessageID>' })))).toBe('InvalidMessageInformationHeader');
    expect(faultOf(() => read(envelope({ action: '', resourceUri: 'urn:r' })))).toBe('MessageInformationHeaderRequired');
  });
});

describe('parseDuration (xs:duration)', () => {
  it.each([
    ['PT20S', 20_000], ['PT60.000S', 60_000], ['PT0.5S', 500], ['PT1M', 60_000], ['PT1H2M3S', 3_723_000], ['P1DT1S', 86_401_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'P', 'PT', '20', 'PT-1S', 'P1Y', 'soon'])('%s is refused', (text) => expect(parseDuration(text)).toBeUndefined());
});
