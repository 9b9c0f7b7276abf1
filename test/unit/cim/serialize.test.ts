// Instances as Windows writes them (DSP0227 §7, MS-WSMV 3.1.4.1.26 and the captures in its §4).
import { describe, expect, it } from 'vitest';
import { eprToXml, fragmentToXml, instanceToXml, paramsToXml, selectorsOf, xmlToValues } from '../../../src/cim/serialize.js';
import type { CimClass } from '../../../src/provider-api.js';
import { serialize, parseXml } from '../../../src/soap/xml.js';

const URI = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Thing';
const Thing: CimClass = {
  name: 'Win32_Thing', namespace: 'root/cimv2', keys: ['Name', 'Index'],
  properties: {
    Name: { type: 'string' }, Index: { type: 'uint32' }, Big: { type: 'uint64' }, Ratio: { type: 'real64' },
    On: { type: 'boolean' }, When: { type: 'datetime' }, Tags: { type: 'string', array: true }, Missing: { type: 'string' },
  },
};
const thing = {
  className: 'Win32_Thing',
  properties: { Name: 'a<b', Index: 7, Big: 18446744073709551615n, Ratio: 0.5, On: true, When: new Date(Date.UTC(2024, 1, 29, 12, 30)), Tags: ['x', 'y'], Missing: null },
};

describe('instanceToXml', () => {
  const xml = serialize(instanceToXml(thing, Thing, URI));
  it('writes the class element in its resource-URI namespace with xsi:type', () => {
    expect(xml.startsWith(`<p:Win32_Thing xmlns:p="${URI}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xsi:type="p:Win32_Thing_Type">`)).toBe(true);
  });
  it('writes typed values, nil, datetimes and repeated array elements, in declaration order', () => {
    expect(xml).toContain('<p:Name>a&lt;b</p:Name><p:Index>7</p:Index><p:Big>18446744073709551615</p:Big><p:Ratio>0.5</p:Ratio><p:On>true</p:On>');
    expect(xml).toContain('<p:When><cim:Datetime>2024-02-29T12:30:00.000Z</cim:Datetime></p:When>');
    expect(xml).toContain('<p:Tags>x</p:Tags><p:Tags>y</p:Tags><p:Missing xsi:nil="true"/>');
  });
  it('writes absent properties as nil rather than leaving them out', () => {
    const partial = serialize(instanceToXml({ className: 'Win32_Thing', properties: { Name: 'n', Index: 1 } }, Thing, URI));
    expect(partial).toContain('<p:On xsi:nil="true"/>');
  });
});

describe('fragments, EPRs and parameters', () => {
  it('a WQL projection is a w:XmlFragment of unqualified elements', () => {
    expect(serialize(fragmentToXml({ Name: 'n', When: new Date(0) }, Thing))).toBe(
      '<w:XmlFragment xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Name>n</Name><When><Datetime>1970-01-01T00:00:00.000Z</Datetime></When></w:XmlFragment>');
  });
  it('an EPR carries the resource URI and one selector per key', () => {
    expect(selectorsOf(thing, Thing)).toEqual({ Name: 'a<b', Index: '7' });
    const xml = serialize(eprToXml(URI, selectorsOf(thing, Thing)));
    expect(xml).toContain(`<w:ResourceURI>${URI}</w:ResourceURI><w:SelectorSet><w:Selector Name="Name">a&lt;b</w:Selector><w:Selector Name="Index">7</w:Selector></w:SelectorSet>`);
    expect(xml).toContain('<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>');
  });
  it('method output follows the declared order', () => {
    const xml = serialize(paramsToXml('Create_OUTPUT', URI, { ReturnValue: 0, ProcessId: 42 }, { ProcessId: { type: 'uint32' }, ReturnValue: { type: 'uint32' } }));
    expect(xml).toBe(`<p:Create_OUTPUT xmlns:p="${URI}"><p:ProcessId>42</p:ProcessId><p:ReturnValue>0</p:ReturnValue></p:Create_OUTPUT>`);
  });
  it('reads parameters back by their declared types, case-insensitively', () => {
    const node = parseXml(`<p:X xmlns:p="${URI}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"><p:index>5</p:index><p:Big>9007199254740993</p:Big><p:On>TRUE</p:On><p:Tags>a</p:Tags><p:Tags>b</p:Tags><p:Missing xsi:nil="true"/><p:When><cim:Datetime>2024-01-01T00:00:00Z</cim:Datetime></p:When></p:X>`, { maxDepth: 10, maxAttributes: 10 });
    expect(xmlToValues(node, Thing.properties)).toEqual({ Index: 5, Big: 9007199254740993n, On: true, Tags: ['a', 'b'], Missing: null, When: new Date('2024-01-01T00:00:00Z') });
  });
});
