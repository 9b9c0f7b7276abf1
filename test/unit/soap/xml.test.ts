import { describe, expect, it } from 'vitest';
import { NS } from '../../../src/soap/names.js';
import { decodeBody, el, parseXml, serialize, XmlError } from '../../../src/soap/xml.js';

const limits = { maxDepth: 32, maxAttributes: 16 };

describe('parseXml', () => {
  it('resolves prefixes by namespace, not by name: env:, s: and a default namespace are one envelope', () => {
    const forms = [
      `<env:Envelope xmlns:env="${NS.soap}"><env:Body/></env:Envelope>`,
      `<s:Envelope xmlns:s="${NS.soap}"><s:Body/></s:Envelope>`,
      `<Envelope xmlns="${NS.soap}"><Body/></Envelope>`,
      `<soap12:Envelope xmlns:soap12="${NS.soap}"><soap12:Body/></soap12:Envelope>`,
    ];
    for (const xml of forms) {
      const root = parseXml(xml, limits);
      expect([root.ns, root.name, root.children[0].ns, root.children[0].name]).toEqual([NS.soap, 'Envelope', NS.soap, 'Body']);
    }
  });

  it('a prefix bound to another namespace is not the SOAP envelope', () => {
    const root = parseXml('<s:Envelope xmlns:s="urn:not-soap"/>', limits);
    expect(root.ns).toBe('urn:not-soap');
  });

  it('inner declarations shadow outer ones', () => {
    const root = parseXml('<a:x xmlns:a="urn:1"><a:y xmlns:a="urn:2"/><a:z/></a:x>', limits);
    expect(root.children.map((c) => c.ns)).toEqual(['urn:2', 'urn:1']);
  });

  it('keeps unprefixed attributes such as mustUnderstand and Name by local name', () => {
    const root = parseXml(`<w:Selector xmlns:w="${NS.wsman}" Name="ShellId" mustUnderstand="true">x</w:Selector>`, limits);
    expect(root.attrs).toEqual({ Name: 'ShellId', mustUnderstand: 'true' });
  });

  it('reads CDATA (the Go client wraps command text in it) and entities', () => {
    const root = parseXml('<a><![CDATA[echo "<hi>" & bye]]> &amp; more</a>', limits);
    expect(root.text).toBe('echo "<hi>" & bye &amp; more'.replace('&amp;', '&'));
  });

  it('refuses undeclared prefixes, two roots and broken nesting', () => {
    for (const bad of ['<a:x/>', '<a/><b/>', '<a><b></a></b>', '<a>', '', 'text only', '<a x="1" x="2"/>']) {
      expect(() => parseXml(bad, limits), bad).toThrow(XmlError);
    }
  });

  it('refuses any DOCTYPE before parsing', () => {
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', limits)).toThrow(/document type/);
  });

  it('bounds depth and attributes, counting quotes correctly', () => {
    expect(() => parseXml('<a>'.repeat(33) + '</a>'.repeat(33), limits)).toThrow(/deeper than 32/);
    expect(() => parseXml('<a>'.repeat(32) + '</a>'.repeat(32), limits)).not.toThrow();
    // `/>` and `>` inside an attribute value neither close nor self-close the tag.
    expect(() => parseXml(`${'<a v="/>">'.repeat(33)}${'</a>'.repeat(33)}`, limits)).toThrow(/deeper/);
    expect(() => parseXml(`<a ${Array.from({ length: 17 }, (_, i) => `a${i}="="`).join(' ')}/>`, limits)).toThrow(/attributes/);
  });
});

describe('decodeBody', () => {
  const xml = `<s:Envelope xmlns:s="${NS.soap}"><s:Body>é</s:Body></s:Envelope>`;
  it('reads UTF-8, with or without a BOM', () => {
    expect(decodeBody(Buffer.from(xml))).toBe(xml);
    expect(decodeBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)]))).toBe(xml);
  });
  it('reads UTF-16LE and UTF-16BE with a BOM (Windows senders)', () => {
    expect(decodeBody(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]))).toBe(xml);
    const be = Buffer.from(xml, 'utf16le').swap16();
    expect(decodeBody(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toBe(xml);
  });
  it('refuses bytes that are not UTF-8', () => {
    expect(() => decodeBody(Buffer.from([0x3c, 0xff, 0x3e]))).toThrow(XmlError);
  });
});

describe('serialize', () => {
  it('declares each namespace once on the root with the conventional prefix, escapes text and attributes', () => {
    const out = serialize(el(NS.soap, 'Envelope', {}, el(NS.wsman, 'Selector', { Name: 'a"<b' }, 'x < y & z'), el('urn:class', 'P', { 'xsi:nil': 'true' })));
    expect(out).toBe(`<s:Envelope xmlns:s="${NS.soap}" xmlns:w="${NS.wsman}" xmlns:p="urn:class" xmlns:xsi="${NS.xsi}"><w:Selector Name="a&quot;&lt;b">x &lt; y &amp; z</w:Selector><p:P xsi:nil="true"/></s:Envelope>`);
  });
  it('gives two unknown namespaces distinct prefixes', () => {
    const out = serialize(el('urn:a', 'x', {}, el('urn:b', 'y')));
    expect(out).toBe('<p:x xmlns:p="urn:a" xmlns:p1="urn:b"><p1:y/></p:x>');
  });
  it('round-trips through the parser', () => {
    const tree = el(NS.soap, 'Envelope', {}, el(NS.wsa, 'To', {}, 'a\rb & <c>'));
    const back = parseXml(serialize(tree), limits);
    expect(back.children[0].text).toBe('a\rb & <c>');
  });
});

describe('entities', () => {
  it('decodes character references and the five predefined entities only', () => {
    expect(parseXml('<a>x&#13;&#x41;&amp;&lt;&gt;&quot;&apos;</a>', limits).text).toBe('x\rA&<>"\'');
    for (const bad of ['<a>&nbsp;</a>', '<a>&foo;</a>', '<a x="&y;"/>', '<a>&#0;</a>']) expect(() => parseXml(bad, limits), bad).toThrow(/entity/);
    // A bare `&` starts a reference that never ends: refused, though the parser names the tag.
    expect(() => parseXml('<a>a & b</a>', limits)).toThrow(XmlError);
  });
});
