import { describe, expect, it, vi } from 'vitest';
import { matches, parseWql, project, validateQuery, WqlError } from '../../../src/cim/wql.js';
import type { CimValue } from '../../../src/provider-api.js';

const spooler: Record<string, CimValue> = {
  Name: 'Spooler',
  State: 'Running',
  StartMode: 'Auto',
  ProcessId: 1234,
  ExitCode: 0,
  Started: true,
  AcceptStop: false,
  Description: null,
  Ratio: 0.5,
  NumericText: '42',
  Big: 2n ** 63n,
  Dependencies: ['RPCSS', 'http'],
  Codes: [1, 5, 9],
  Empty: [],
  InstallDate: new Date('2024-03-01T12:00:00.000Z'),
  PathName: 'C:\\Windows\\System32\\spoolsv.exe',
};

/** WHERE clause against `spooler`. */
const where = (cond: string, props: Record<string, CimValue> = spooler) =>
  matches(parseWql(`SELECT * FROM Win32_Service WHERE ${cond}`), props);

/** Runs fn, returning the WqlError it throws (failing if it throws anything else or nothing). */
function wqlError(fn: () => unknown): WqlError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WqlError);
    return e as WqlError;
  }
  throw new Error('expected a WqlError');
}

describe('parseWql', () => {
  it('parses the issue example', () => {
    const q = parseWql("SELECT Name,State FROM Win32_Service WHERE State = 'Running' AND Name LIKE 's%'");
    expect(q.className).toBe('Win32_Service');
    expect(q.properties).toEqual(['Name', 'State']);
    expect(q.propertyPositions).toEqual([7, 12]);
    expect(q.where?.kind).toBe('and');
    expect(matches(q, spooler)).toBe(true);
    expect(matches(q, { ...spooler, State: 'Stopped' })).toBe(false);
    expect(matches(q, { ...spooler, Name: 'WinRM' })).toBe(false);
    expect(project(q, spooler)).toEqual({ Name: 'Spooler', State: 'Running' });
  });

  it('parses SELECT * and keeps the text', () => {
    const text = 'select * from CIM_LogicalDisk';
    const q = parseWql(text);
    expect(q).toEqual({ className: 'CIM_LogicalDisk', properties: '*', text });
    expect(matches(q, spooler)).toBe(true);
  });

  it('accepts keywords in any case and free whitespace', () => {
    const q = parseWql("\n sElEcT   name ,state\tfRoM Win32_Service wHeRe NoT (state = 'x' oR name iS nUlL) aNd name lIkE 'S%' ");
    expect(q.properties).toEqual(['name', 'state']);
    expect(matches(q, spooler)).toBe(true);
  });

  it('stores literal-op-property comparisons flipped', () => {
    const q = parseWql('SELECT * FROM X WHERE 5 < ProcessId');
    expect(q.where).toMatchObject({ kind: 'compare', op: '>', value: 5, property: { name: 'ProcessId', position: 26 } });
  });

  it.each([
    ['ProcessId = 42', 42],
    ['ProcessId = -42', -42],
    ['ProcessId = +42', 42],
    ['ProcessId = 0x1F', 31],
    ['ProcessId = -0x10', -16],
    ['ProcessId = 1.5', 1.5],
    ['ProcessId = .5', 0.5],
    ['ProcessId = -2.5e3', -2500],
    ['ProcessId = 9007199254740993', 9007199254740993n],
    ['ProcessId = 0xFFFFFFFFFFFFFFFF', 0xffffffffffffffffn],
    ['ProcessId = TRUE', true],
    ['ProcessId = false', false],
    ["Name = 'it\\'s'", "it's"],
    ['Name = "say \\"hi\\""', 'say "hi"'],
    ["Name = 'back\\\\slash'", 'back\\slash'],
    ["Name = 'C:\\Windows'", 'C:\\Windows'], // an unknown escape keeps its backslash
    ['Name = "it\'s"', "it's"],
    ["Name = ''", ''],
  ])('literal in %s', (cond, value) => {
    expect(parseWql(`SELECT * FROM X WHERE ${cond}`).where).toMatchObject({ kind: 'compare', value });
  });

  it.each([
    ['Name = NULL', false],
    ['NULL = Name', false],
    ['Name <> NULL', true],
    ['Name != NULL', true],
  ])('%s is IS [NOT] NULL', (cond, negated) => {
    expect(parseWql(`SELECT * FROM X WHERE ${cond}`).where).toEqual({
      kind: 'isNull', negated, property: { name: 'Name', position: cond.startsWith('NULL') ? 29 : 22 },
    });
  });
});

describe('malformed queries', () => {
  const W = 'SELECT * FROM X WHERE '; // conditions start at 22
  it.each<[string, number, string]>([
    ['', 0, 'expected SELECT at position 0, found end of query'],
    ['   ', 3, 'expected SELECT at position 3, found end of query'],
    ['SELEC * FROM X', 0, "expected SELECT at position 0, found 'SELEC'"],
    ['SELECT Name,State FORM Win32_Service', 18, "expected FROM at position 18, found 'FORM'"],
    ['SELECT FROM Win32_Service', 7, "expected property name or '*' at position 7, found 'FROM'"],
    ['SELECT', 6, "expected property name or '*' at position 6, found end of query"],
    ['SELECT Name, FROM X', 13, "expected property name at position 13, found 'FROM'"],
    ['SELECT Name,, State FROM X', 12, "found ','"],
    ['SELECT *, Name FROM X', 8, "expected FROM at position 8, found ','"],
    ['SELECT * FROM', 13, 'expected class name at position 13, found end of query'],
    ['SELECT * FROM WHERE', 14, "expected class name at position 14, found 'WHERE'"],
    ["SELECT * FROM 'X'", 14, "expected class name at position 14, found 'X'"],
    ['SELECT * FROM X Y', 16, "expected WHERE or end of query at position 16, found 'Y'"],
    ['SELECT * FROM X WHERE', 21, 'expected condition at position 21, found end of query'],
    [`${W}Name = 'abc`, 29, 'unterminated string at position 29'],
    [`${W}Name = "abc'`, 29, 'unterminated string'],
    [`${W}Name = 'abc\\'`, 29, 'unterminated string'],
    [`${W}Name = 'abc\\`, 29, 'unterminated string'],
    [`${W}Name == 'a'`, 27, "unknown operator '==' at position 27"],
    [`${W}Name =< 1`, 27, "unknown operator '=<'"],
    [`${W}Name ! 1`, 27, "unknown operator '!'"],
    [`${W}Name <>= 1`, 27, "unknown operator '<>='"],
    [`${W}Name = 'a' extra`, 33, "expected end of query at position 33, found 'extra'"],
    [`${W}Name = 'a' 'b'`, 33, "expected end of query at position 33, found 'b'"],
    [`${W}(Name = 'a'`, 33, "expected ')' at position 33, found end of query"],
    [`${W}((Name = 1) OR (Name = 2)`, 47, "expected ')' at position 47"],
    [`${W}Name = 'a')`, 32, "expected end of query at position 32, found ')'"],
    [`${W}()`, 23, "expected condition at position 23, found ')'"],
    [`${W}Name = Caption`, 29, "expected literal at position 29, found 'Caption'"],
    [`${W}1 = 2`, 26, "expected property name at position 26, found '2'"],
    [`${W}'a' LIKE Name`, 26, "expected comparison operator at position 26, found 'LIKE'"],
    [`${W}Name LIKE 5`, 32, "expected string pattern at position 32, found '5'"],
    [`${W}Name LIKE 'a[b'`, 34, "unterminated '[' in LIKE pattern at position 34"],
    [`${W}Name LIKE '[z-a]'`, 33, "invalid range 'z-a'"],
    [`${W}Name LIKE 'x[]'`, 34, "empty set '[]'"],
    // Thirty thousand characters would overflow V8's RegExp compiler (an InternalError before).
    [`${W}Name LIKE '${'%a'.repeat(15000)}'`, 32, 'LIKE pattern of 30000 characters at position 32 is longer than 4096'],
    [`${W}Name LIKE 'x[^]'`, 34, "empty set '[]'"],
    [`${W}Name LIKE '\\\\[a'`, 35, "unterminated '['"], // the escape shifts the offset
    [`${W}Name IS 5`, 30, "expected NULL at position 30, found '5'"],
    [`${W}Name IS NOT`, 33, 'expected NULL at position 33, found end of query'],
    [`${W}Name IS NOT NULL NULL`, 39, "expected end of query at position 39, found 'NULL'"],
    [`${W}V LIKE '[^]]'`, 30, "empty set '[]'"], // ']' right after '[' or '[^' does not start the set's members
    [`${W}Name NOT = 1`, 31, "expected LIKE at position 31, found '='"],
    [`${W}Name ISA 'Win32_Service'`, 27, "expected comparison operator, LIKE or IS at position 27, found 'ISA'"],
    [`${W}Name`, 26, 'expected comparison operator, LIKE or IS at position 26, found end of query'],
    [`${W}Name < NULL`, 27, "operator '<' cannot be used with NULL at position 27"],
    [`${W}NULL >= Name`, 27, "operator '<=' cannot be used with NULL"],
    [`${W}Name = 0x`, 29, "invalid number '0x' at position 29"],
    [`${W}Name = 0xZZ`, 29, "invalid number '0xZZ'"],
    [`${W}Name = 5AND Name = 6`, 29, "invalid number '5AND'"],
    [`${W}Name = 1.2.3`, 29, "invalid number '1.2.3'"],
    [`${W}Name = 1e`, 29, "invalid number '1e'"],
    [`${W}Name = - 5`, 29, "unexpected character '-' at position 29"],
    [`${W}Name # 1`, 27, "unexpected character '#'"],
    [`${W}Name = 1 AND`, 34, 'expected condition at position 34, found end of query'],
    [`${W}Name = 1 OR OR Name = 2`, 34, "expected condition at position 34, found 'OR'"],
    [`${W}NOT`, 25, 'expected condition at position 25'],
    [`${W}select = 1`, 22, "expected condition at position 22, found 'select'"],
    [`${W}Name = 1 AND AND`, 35, "found 'AND'"],
    [`${W}${'('.repeat(101)}Name = 1${')'.repeat(101)}`, 122, 'nested too deeply at position 122'],
    [`${W}${'NOT '.repeat(101)}Name = 1`, 422, 'nested too deeply'],
  ])('%j fails at %i', (query, position, message) => {
    const e = wqlError(() => parseWql(query));
    expect(e.position).toBe(position);
    expect(e.message).toContain(message);
    expect(e.name).toBe('WqlError');
  });

  it('accepts nesting up to the limit', () => {
    expect(where(`${'('.repeat(100)}Name = 'Spooler'${')'.repeat(100)}`)).toBe(true);
    expect(where(`${'NOT '.repeat(100)}Name = 'x'`)).toBe(false);
  });
});

describe('matches', () => {
  it.each<[string, boolean]>([
    // every operator, both operand orders
    ["Name = 'Spooler'", true],
    ["Name = 'spooler'", true], // values compare case-insensitively
    ["Name <> 'SPOOLER'", false],
    ["Name != 'WinRM'", true],
    ["Name < 'T'", true],
    ["Name < 'spooler'", false],
    ["Name <= 'SPOOLER'", true],
    ["Name > 'spoolea'", true],
    ["Name >= 'Spoolerz'", false],
    ["Name > 'a'", true],
    ["'Spooler' = Name", true],
    ["'T' > Name", true],
    ["'T' < Name", false],
    ['ProcessId = 1234', true],
    ['ProcessId <> 1234', false],
    ['ProcessId < 1235', true],
    ['ProcessId <= 1234', true],
    ['ProcessId > 1234', false],
    ['ProcessId >= 1234', true],
    ['1000 < ProcessId', true],
    ['1234 >= ProcessId', true],
    ['1235 <= ProcessId', false],
    ['ProcessId = 0x4D2', true],
    ['ProcessId = 1234.0', true],
    ['ProcessId < 1234.5', true],
    ["ProcessId = '1234'", true], // numeric string literal against a number
    ["ProcessId = 'abc'", false], // ... a non-numeric one is incomparable
    ["ProcessId <> 'abc'", false],
    ['Ratio = 0.5', true],
    ['Ratio > 0.25', true],
    ['Ratio < -1', false],
    // a string property against a number: the property is converted
    ['NumericText = 42', true],
    ['NumericText > 41.5', true],
    ['NumericText < 0x2A', false],
    ['Name = 1', false],
    ['Name <> 1', false],
    // bigint values
    ['Big = 9223372036854775808', true],
    ['Big > 9223372036854775807', true],
    ['Big < 9223372036854775809', true],
    ['Big > 1', true],
    ['Big = 9.223372036854776e18', true],
    ['Big >= 0x8000000000000000', true],
    ["Big = '9223372036854775808'", true],
    // booleans
    ['Started = TRUE', true],
    ['Started = true', true],
    ['Started = FALSE', false],
    ['Started <> FALSE', true],
    ['AcceptStop = FALSE', true],
    ['Started = 1', true],
    ['AcceptStop = 0', true],
    ['Started = 2', false],
    ["Started = 'True'", true],
    ["Started = 'yes'", false],
    ['Started > FALSE', true],
    ['ExitCode = FALSE', true], // numbers against booleans: TRUE/FALSE are 1/0
    ["State = TRUE", false],
    // dates
    ["InstallDate = '20240301120000.000000+000'", true],
    ["InstallDate = '20240301140000.000000+120'", true],
    ["InstallDate = '20240301070000.000000-300'", true],
    ["InstallDate > '20240301115959.999999+000'", true],
    ["InstallDate < '20240301120000.001000+000'", true],
    ["InstallDate = '2024-03-01T12:00:00Z'", true],
    ["InstallDate = '2024-03-01T12:00:00'", true], // no offset: UTC
    ["InstallDate = '2024-03-01 14:00:00+02:00'", true],
    ["InstallDate > '2024-03-01'", true],
    ["InstallDate < '2024-03-02'", true],
    ["InstallDate >= '2025-01-01'", false],
    ["InstallDate = 'yesterday'", false],
    ["InstallDate <> 'yesterday'", false],
    ['InstallDate > 0', false],
    // arrays: true if any element satisfies the test
    ["Dependencies = 'rpcss'", true],
    ["Dependencies = 'HTTP'", true],
    ["Dependencies = 'Dnscache'", false],
    ["Dependencies <> 'RPCSS'", true], // 'http' differs
    ["NOT Dependencies = 'RPCSS'", false],
    ["Dependencies LIKE 'ht%'", true],
    ['Codes > 8', true],
    ['Codes > 9', false],
    ['Codes = 5', true],
    ["Empty = 'x'", false],
    ["NOT Empty = 'x'", true],
    ['Empty IS NULL', false],
    // IS NULL
    ['Description IS NULL', true],
    ['Description IS NOT NULL', false],
    ['Name IS NULL', false],
    ['Name IS NOT NULL', true],
    ['Description = NULL', true],
    ['Description <> NULL', false],
    ['NULL = Description', true],
    ['Missing IS NULL', true], // a property the instance lacks is NULL
    // case-insensitive property names
    ["name = 'Spooler'", true],
    ["NAME LIKE 's%'", true],
    ['processid = 1234', true],
    ['description is null', true],
    // LIKE on numbers uses their text; on booleans never matches
    ["ProcessId LIKE '12%'", true],
    ["Big LIKE '922%'", true],
    ["Started LIKE 't%'", false],
    ["Started NOT LIKE 't%'", false],
    // Windows path with escaped backslashes
    ["PathName = 'c:\\\\windows\\\\system32\\\\SPOOLSV.EXE'", true],
    ["PathName LIKE '%\\\\spoolsv.exe'", true],
    ["PathName LIKE 'C:\\\\Windows\\\\%'", true],
  ])('%s → %s', (cond, expected) => {
    expect(where(cond)).toBe(expected);
  });

  it('follows NOT > AND > OR precedence', () => {
    // true OR (false AND false) = true; (true OR false) AND false would be false
    expect(where("Name = 'Spooler' OR State = 'x' AND StartMode = 'x'")).toBe(true);
    expect(where("(Name = 'Spooler' OR State = 'x') AND StartMode = 'x'")).toBe(false);
    // NOT binds tighter than AND: (NOT false) AND true
    expect(where("NOT State = 'x' AND Name = 'Spooler'")).toBe(true);
    expect(where("NOT (State = 'Running' AND Name = 'x')")).toBe(true);
    expect(where("NOT State = 'Running' AND Name = 'x'")).toBe(false);
    // NOT over OR only with parentheses
    expect(where("NOT Name = 'x' OR Name = 'Spooler'")).toBe(true);
    expect(where("NOT (Name = 'x' OR Name = 'Spooler')")).toBe(false);
    expect(where("NOT NOT Name = 'Spooler'")).toBe(true);
    expect(where("Name = 'a' OR Name = 'b' OR Name = 'spooler'")).toBe(true);
    expect(where("Name = 'spooler' AND State = 'running' AND ProcessId = 1234 AND Started = TRUE")).toBe(true);
    expect(where("((Name = 'spooler') AND ((State = 'x') OR (ProcessId = 1234)))")).toBe(true);
  });

  it('uses three-valued logic for NULL', () => {
    // Description is NULL: comparisons are unknown, and NOT unknown is unknown
    expect(where("Description = 'x'")).toBe(false);
    expect(where("Description <> 'x'")).toBe(false);
    expect(where("NOT Description = 'x'")).toBe(false);
    expect(where("NOT NOT Description = 'x'")).toBe(false);
    expect(where("Description LIKE '%'")).toBe(false);
    expect(where("Description NOT LIKE 'x'")).toBe(false);
    expect(where('Missing = 1')).toBe(false);
    expect(where('NOT Missing = 1')).toBe(false);
    // unknown OR true = true; unknown AND false = false; NOT (unknown AND false) = true
    expect(where("Description = 'x' OR Name = 'Spooler'")).toBe(true);
    expect(where("NOT (Description = 'x' AND Name = 'x')")).toBe(true);
    // unknown AND true = unknown; NOT of it stays unknown
    expect(where("NOT (Description = 'x' AND Name = 'Spooler')")).toBe(false);
    // unknown OR false = unknown
    expect(where("NOT (Description = 'x' OR Name = 'x')")).toBe(false);
  });

  it('treats a null array element as unknown', () => {
    const props = { Tags: ['a', null] as unknown as CimValue };
    expect(where("Tags = 'a'", props)).toBe(true);
    expect(where("Tags = 'b'", props)).toBe(false);
    expect(where("NOT Tags = 'b'", props)).toBe(false);
  });

  it('does not resolve inherited object members as properties', () => {
    expect(where('constructor IS NULL', {})).toBe(true);
    expect(where('toString IS NULL', {})).toBe(true);
  });

  it('rejects a comparison of two properties', () => {
    expect(wqlError(() => parseWql('SELECT * FROM X WHERE Started > AcceptStop')).position).toBe(32);
  });
});

describe('LIKE', () => {
  it.each<[string, string, boolean]>([
    ['s%', 'Spooler', true],
    ['S%', 'spooler', true],
    ['%LER', 'Spooler', true],
    ['%ool%', 'Spooler', true],
    ['%', '', true],
    ['%', 'anything', true],
    ['%%', 'x', true],
    ['', '', true],
    ['', 'x', false],
    ['spooler', 'SPOOLER', true],
    ['spool', 'spooler', false],
    ['s_ooler', 'Spooler', true],
    ['s_oler', 'Spooler', false],
    ['_', '', false],
    ['___', 'abc', true],
    ['__', 'abc', false],
    ['%_', 'a', true],
    ['_%_', 'a', false],
    ['a%b%c', 'aXbYc', true],
    ['a%b%c', 'abc', true],
    ['a%b%c', 'acb', false],
    ['a%a', 'a', false],
    ['a%a', 'aa', true],
    ['%ab%ab', 'xabyab', true],
    ['%aab', 'aaab', true],
    ['[abc]%', 'bravo', true],
    ['[abc]%', 'delta', false],
    ['[a-c]x', 'Bx', true],
    ['[A-C]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[^a]%', 'bob', true],
    ['[^a]%', 'alice', false],
    ['[^a]%', 'Alice', false], // negated sets are case-insensitive too
    ['[^a-c]', 'd', true],
    ['[0-9][0-9]', '42', true],
    ['[0-9][0-9]', '4x', false],
    ['[a-cx-z]', 'y', true],
    ['[-a]', '-', true],
    ['[a-]', '-', true],
    ['[%]', '%', true],
    ['[%]', 'x', false],
    ['100[%]', '100%', true],
    ['[_]x', '_x', true],
    ['[_]x', 'ax', false],
    ['[[]', '[', true],
    ['[\\\\]', '\\', true], // set holding a backslash (escaped in the WQL string)
    ['a]b', 'a]b', true],
    // RegExp metacharacters are literal
    ['a.b%', 'axb', false],
    ['a.b%', 'a.bc', true],
    ['a*', 'aaa', false],
    ['a*', 'a*', true],
    ['a+', 'a+', true],
    ['(x)|y', '(x)|y', true],
    ['(x)|y', 'y', false],
    ['$^', '$^', true],
    ['{1}', '{1}', true],
    ['a?', 'a?', true],
    ['a?', 'a', false],
    ['/x/', '/x/', true],
    ['\\\\d', '\\d', true],
    ['\\\\d', '5', false],
    ['[.]', 'x', false],
    ['[.]', '.', true],
    // newlines and astral characters
    ['a_c', 'a\nc', true],
    ['%c', 'ab\nc', true],
    ['_', '😀', true],
    ['[😀]', '😀', true],
  ])("'%s' against %j → %s", (pattern, value, expected) => {
    expect(where(`V LIKE '${pattern}'`, { V: value })).toBe(expected);
    expect(where(`V NOT LIKE '${pattern}'`, { V: value })).toBe(!expected);
  });

  // One backtracking RegExp (`^.*a.*a…b$`) takes polynomial time of high degree on these. The
  // matcher instead places fixed-length segments one after the other; that structure is what keeps
  // it linear-ish, so that is what is checked, not a duration.
  it.each<[string, boolean]>([
    [`${'%a'.repeat(12)}%b`, false],
    [`${'%a'.repeat(12)}%`, true],
    [`${'_'.repeat(50)}%b`, false],
  ])('matches hostile pattern %s without backtracking: fixed-length segments, each tried once', (pattern, expected) => {
    const q = parseWql(`SELECT * FROM Win32_Service WHERE V LIKE '${pattern}'`);
    if (q.where?.kind !== 'like') throw new Error(`not a LIKE: ${JSON.stringify(q.where)}`);
    const { exact, first, middle, last } = q.where.matcher;
    const segments = [exact, first, ...middle, last].filter((re): re is RegExp => re !== undefined);
    expect(segments.length).toBeGreaterThan(1);
    // No quantifier in any segment (these patterns have no literal * + ? {; `(?:` only groups): each
    // matches a fixed length, so one search costs at most text × segment length.
    for (const re of segments) expect(re.source.replaceAll('(?:', '(')).not.toMatch(/[*+?{]/);
    // Each segment is searched once, from where the one before it ended: no retrying other placements.
    const searches = segments.map((re) => vi.spyOn(re, 'exec'));
    expect(matches(q, { V: 'a'.repeat(20_000) })).toBe(expected);
    for (const s of searches) expect(s.mock.calls.length).toBeLessThanOrEqual(1);
    expect(searches.reduce((n, s) => n + s.mock.calls.length, 0)).toBeGreaterThan(0);
  });
});

describe('validateQuery', () => {
  const names = ['Name', 'State', 'ProcessId', 'Description'];

  it('accepts known properties in any case', () => {
    expect(() => validateQuery(parseWql(
      "SELECT name, STATE FROM Win32_Service WHERE processid > 4 AND NOT description IS NULL OR 'x' = name"), names)).not.toThrow();
    expect(() => validateQuery(parseWql('SELECT * FROM Win32_Service'), names)).not.toThrow();
  });

  it.each<[string, number, string]>([
    ['SELECT Name, Bogus FROM Win32_Service', 13, 'Bogus'],
    ["SELECT * FROM Win32_Service WHERE Name = 'x' AND Bogus = 1", 49, 'Bogus'],
    ["SELECT Name FROM Win32_Service WHERE (State = 'x' OR NOT 5 < Nope)", 61, 'Nope'],
    ["SELECT * FROM Win32_Service WHERE Bad LIKE 'x%'", 34, 'Bad'],
    ['SELECT * FROM Win32_Service WHERE Bad IS NOT NULL', 34, 'Bad'],
    ['SELECT Zed FROM Win32_Service WHERE Bad = 1', 7, 'Zed'], // select list first
  ])('%s fails at %i', (query, position, name) => {
    const e = wqlError(() => validateQuery(parseWql(query), names));
    expect(e.position).toBe(position);
    expect(e.message).toBe(`unknown property '${name}' at position ${position} (class Win32_Service has no such property)`);
  });
});

describe('project', () => {
  it('keeps the selected properties in the instance spelling and order', () => {
    const q = parseWql('SELECT processid, NAME, missing FROM Win32_Service');
    const out = project(q, spooler);
    expect(out).toEqual({ Name: 'Spooler', ProcessId: 1234 });
    expect(Object.keys(out)).toEqual(['Name', 'ProcessId']);
  });

  it('keeps everything for *, in a new object', () => {
    const q = parseWql('SELECT * FROM Win32_Service');
    const out = project(q, spooler);
    expect(out).toEqual(spooler);
    expect(out).not.toBe(spooler);
  });

  it('keeps null values that are selected', () => {
    expect(project(parseWql('SELECT Description FROM X'), spooler)).toEqual({ Description: null });
  });
});

describe('fuzz', () => {
  // mulberry32: a seeded PRNG so a failure reproduces.
  function rng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const valid = [
    "SELECT Name,State FROM Win32_Service WHERE State = 'Running' AND Name LIKE 's%'",
    'SELECT * FROM Win32_Process WHERE ProcessId > 100 OR NOT (Name IS NULL)',
    "select name from x where 'a' <> name and (b = 0x1F or c != -2.5e3) and d like '[^a-c]_%'",
    'SELECT A, B, C FROM Y WHERE A IS NOT NULL AND B = TRUE AND NOT C <= 9223372036854775808',
    "SELECT * FROM Z WHERE D NOT LIKE \"x\\\"y\" OR E >= '20240301120000.000000+000'",
  ];
  const pieces = ['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'LIKE', 'IS', 'NULL', 'TRUE', 'Name', '*', ',',
    '(', ')', '=', '<>', '<', '>=', '!', "'", '"', '\\', '%', '[', ']', '^', '-', '0x', '1', '.', 'e', ' ', ' ', '#', '\n', '😀'];

  it('2,000 random inputs either parse or throw WqlError', () => {
    const rand = rng(20240301);
    const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)];
    const inputs: string[] = [];
    for (let n = 0; n < 1000; n++) {
      let s = '';
      const len = Math.floor(rand() * 25);
      for (let k = 0; k < len; k++) s += rand() < 0.8 ? pick(pieces) + (rand() < 0.5 ? ' ' : '') : String.fromCharCode(Math.floor(rand() * 128));
      inputs.push(rand() < 0.5 ? s : 'SELECT * FROM X WHERE ' + s);
    }
    for (let n = 0; n < 1000; n++) {
      let s = pick(valid);
      const edits = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rand() * (s.length + 1));
        const r = rand();
        if (r < 0.3) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 5));
        else if (r < 0.6) s = s.slice(0, at) + pick(pieces) + s.slice(at);
        else if (r < 0.8) s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + s.slice(at + 1);
        else s = s.slice(0, at) + s.slice(at, at + 8) + s.slice(at); // duplicate a chunk
      }
      inputs.push(s);
    }

    const failures: string[] = [];
    let parsed = 0;
    for (const text of inputs) {
      try {
        const q = parseWql(text);
        parsed++;
        matches(q, spooler);
        matches(q, { name: null, a: [1, 'x'], b: true, c: 5n, d: new Date(0) });
        project(q, spooler);
        try {
          validateQuery(q, ['Name', 'State']);
        } catch (e) {
          if (!(e instanceof WqlError)) throw e;
        }
      } catch (e) {
        if (!(e instanceof WqlError)) failures.push(`${JSON.stringify(text)}: ${String(e)}`);
        else if (!Number.isInteger(e.position) || e.position < 0 || e.position > text.length) {
          failures.push(`${JSON.stringify(text)}: position ${e.position} out of range`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(parsed).toBeGreaterThan(50); // the mutations must exercise the evaluator too
  });
});
