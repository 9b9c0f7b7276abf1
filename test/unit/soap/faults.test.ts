// The fault catalogue and the README's fault table are one list (DESIGN.md principle 5).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAULTS } from '../../../src/soap/faults.js';
import { buildFault } from '../../../src/soap/envelope.js';
import { xp } from '../../helpers/xpath.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const table = readme.slice(readme.indexOf('## Faults'));
const rows = new Map(
  table.split('\n').filter((l) => /^\| `\w+` \|/.test(l)).map((l) => {
    const cells = l.split('|').map((c) => c.trim());
    return [cells[1].replace(/`/g, ''), cells] as const;
  }),
);

describe('fault catalogue', () => {
  it('the README lists exactly the catalogue', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(FAULTS).sort());
  });
  for (const [id, spec] of Object.entries(FAULTS)) {
    it(`${id}: the README row matches the code, subcode and HTTP status`, () => {
      const cells = rows.get(id)!;
      expect(cells[2]).toBe(spec.subcode ? `${spec.subcode[1]}` : '—');
      expect(cells[3]).toBe(String(spec.wsmanCode));
      expect(cells[4]).toBe(String(spec.http));
    });
    it(`${id}: renders as a SOAP 1.2 fault with WSManFault directly under Detail`, () => {
      const xml = buildFault({ id: id as keyof typeof FAULTS, message: 'm', machine: 'h', relatesTo: 'uuid:1' });
      expect(xp(xml, '/s:Envelope/s:Header/a:Action')).toBe(spec.action);
      expect(xp(xml, '/s:Envelope/s:Header/a:RelatesTo')).toBe('uuid:1');
      expect(xp(xml, `/s:Envelope/s:Body/s:Fault/s:Code/s:Value`)).toBe(`s:${spec.code}`);
      expect(xp(xml, 'string(/s:Envelope/s:Body/s:Fault/s:Detail/f:WSManFault/@Code)')).toBe(String(spec.wsmanCode));
      expect(xp(xml, '/s:Envelope/s:Body/s:Fault/s:Detail/f:WSManFault/f:Message')).toBe('m');
    });
  }
});
