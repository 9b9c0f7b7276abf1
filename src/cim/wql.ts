// WQL (WMI Query Language), the filter dialect http://schemas.microsoft.com/wbem/wsman/1/WQL
// of WS-Management Enumerate: a hand-written lexer and recursive-descent parser for
//
//   SELECT <* | prop[, prop...]> FROM <Class> [WHERE <condition>]
//
// and an evaluator that runs the WHERE clause against one instance's property values.
// Semantics follow WMI where it is sensible; the choices are documented at each function.

import type { CimScalar, CimValue } from '../provider-api.js';

/** A malformed query (or, from validateQuery, one naming a property the class lacks). */
export class WqlError extends Error {
  /** 0-based character offset into the query text where the problem is. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.name = 'WqlError';
    this.position = position;
  }
}

export type WqlOperator = '=' | '<>' | '<' | '>' | '<=' | '>=';

/** A property name as written in the query; the position is kept for validateQuery's errors. */
export interface WqlIdent {
  name: string;
  position: number;
}

export type WqlLiteral = string | number | bigint | boolean;

/**
 * A literal in the forms it may be compared in, worked out once at parse time so the
 * per-instance evaluator does no parsing: `str` lowercased (string literals only), `num`
 * (numeric literals, numeric strings, booleans as 1/0), `bool` (booleans, 0/1, 'true'/'false'),
 * `time` (strings that are CIM or ISO 8601 datetimes, as epoch milliseconds).
 */
export interface PreparedLiteral {
  kind: 'string' | 'number' | 'boolean';
  str?: string;
  num?: number | bigint;
  bool?: boolean;
  time?: number;
}

/**
 * A LIKE pattern split at its `%` runs into fixed-length segments, each a RegExp. Matching
 * places the first segment at the start, the last at the end and each middle one leftmost:
 * O(text x pattern), where one backtracking RegExp (`^.*a.*a.*a...$`) can take polynomial
 * time of high degree on a hostile pattern. `exact` is set when the pattern has no `%`.
 */
export interface LikeMatcher {
  exact?: RegExp;
  first?: RegExp;
  middle: RegExp[];
  last?: RegExp;
}

export type WqlExpr =
  | { kind: 'and'; operands: WqlExpr[] }
  | { kind: 'or'; operands: WqlExpr[] }
  | { kind: 'not'; operand: WqlExpr }
  // `literal op prop` is stored flipped as `prop op' literal`.
  | { kind: 'compare'; property: WqlIdent; op: WqlOperator; value: WqlLiteral; prepared: PreparedLiteral }
  | { kind: 'like'; property: WqlIdent; pattern: string; negated: boolean; matcher: LikeMatcher }
  // `prop = NULL` and `prop <> NULL` parse to this too.
  | { kind: 'isNull'; property: WqlIdent; negated: boolean };

export interface WqlQuery {
  className: string;
  properties: string[] | '*';
  where?: WqlExpr;
  text: string;
  /** Offsets of the select-list names, parallel to `properties`, for validateQuery. */
  propertyPositions?: number[];
}

// ---------------------------------------------------------------------------------------
// Lexer

type TokenKind = 'word' | 'string' | 'number' | 'op' | 'punct' | 'eof';

interface Token {
  kind: TokenKind;
  pos: number;
  raw: string;
  /** word: uppercased; string: the unescaped value; op: normalized (`!=` -> `<>`). */
  text: string;
  num?: number | bigint;
  /** string: query offset of each UTF-16 unit of `text`, to place LIKE pattern errors. */
  offsets?: number[];
}

const RESERVED = new Set(['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'LIKE', 'IS', 'NULL', 'TRUE', 'FALSE']);
const OPERATORS: Record<string, WqlOperator> = {
  '=': '=', '<>': '<>', '!=': '<>', '<': '<', '>': '>', '<=': '<=', '>=': '>=',
};

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_]/.test(c);
const isIdentPart = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);

class Lexer {
  private i = 0;
  constructor(private readonly src: string) {}

  next(): Token {
    const s = this.src;
    while (this.i < s.length && /\s/.test(s[this.i])) this.i++;
    const pos = this.i;
    const c = s[pos];
    if (c === undefined) return { kind: 'eof', pos, raw: '', text: '' };
    if (isIdentStart(c)) {
      while (isIdentPart(s[this.i])) this.i++;
      const raw = s.slice(pos, this.i);
      return { kind: 'word', pos, raw, text: raw.toUpperCase() };
    }
    if (c === "'" || c === '"') return this.string(c);
    if (isDigit(c) || (c === '.' && isDigit(s[pos + 1])) ||
        ((c === '-' || c === '+') && (isDigit(s[pos + 1]) || (s[pos + 1] === '.' && isDigit(s[pos + 2]))))) {
      return this.number();
    }
    if ('<>=!'.includes(c)) {
      while (this.i < s.length && '<>=!'.includes(s[this.i])) this.i++;
      const raw = s.slice(pos, this.i);
      const op = OPERATORS[raw];
      if (!op) throw new WqlError(`unknown operator '${raw}' at position ${pos}`, pos);
      return { kind: 'op', pos, raw, text: op };
    }
    if ('(),*'.includes(c)) {
      this.i++;
      return { kind: 'punct', pos, raw: c, text: c };
    }
    throw new WqlError(`unexpected character '${c}' at position ${pos}`, pos);
  }

  // Backslash escapes only \' \" and \\; any other backslash is kept as itself, so that
  // Windows paths such as 'C:\Windows' mean what they look like.
  private string(quote: string): Token {
    const s = this.src;
    const pos = this.i++;
    let text = '';
    const offsets: number[] = [];
    for (;;) {
      const c = s[this.i];
      if (c === undefined || (c === '\\' && this.i + 1 >= s.length)) {
        throw new WqlError(`unterminated string at position ${pos}`, pos);
      }
      if (c === quote) { this.i++; break; }
      offsets.push(this.i);
      if (c === '\\' && (s[this.i + 1] === "'" || s[this.i + 1] === '"' || s[this.i + 1] === '\\')) {
        text += s[this.i + 1];
        this.i += 2;
      } else {
        text += c;
        this.i++;
      }
    }
    return { kind: 'string', pos, raw: s.slice(pos, this.i), text, offsets };
  }

  private number(): Token {
    const s = this.src;
    const pos = this.i;
    if (s[this.i] === '-' || s[this.i] === '+') this.i++;
    if (s[this.i] === '0' && (s[this.i + 1] === 'x' || s[this.i + 1] === 'X')) {
      this.i += 2;
      while (/[0-9A-Fa-f]/.test(s[this.i] ?? '')) this.i++;
    } else {
      while (isDigit(s[this.i])) this.i++;
      if (s[this.i] === '.') { this.i++; while (isDigit(s[this.i])) this.i++; }
      if ((s[this.i] === 'e' || s[this.i] === 'E') &&
          (isDigit(s[this.i + 1]) || ('+-'.includes(s[this.i + 1] ?? 'x') && isDigit(s[this.i + 2])))) {
        this.i += 2;
        while (isDigit(s[this.i])) this.i++;
      }
    }
    // A number running into letters ("5AND", "0x", "1.2.3") is one bad token, not two.
    while (isIdentPart(s[this.i]) || s[this.i] === '.') this.i++;
    const raw = s.slice(pos, this.i);
    const num = toNumber(raw);
    if (num === undefined) throw new WqlError(`invalid number '${raw}' at position ${pos}`, pos);
    return { kind: 'number', pos, raw, text: raw, num };
  }
}

/** Decimal integer, real or 0x hex; integers beyond 2^53 become bigint. Undefined if not a number. */
function toNumber(text: string): number | bigint | undefined {
  const t = text.trim();
  if (/^[+-]?\d+$/.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : BigInt(t);
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  const hex = /^([+-]?)0[xX]([0-9A-Fa-f]+)$/.exec(t);
  if (hex) {
    const b = BigInt('0x' + hex[2]) * (hex[1] === '-' ? -1n : 1n);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Parser

/** Bounds recursion so a hostile `((((...` or `NOT NOT ...` is a WqlError, not a stack overflow. */
const MAX_DEPTH = 100;

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private depth = 0;

  constructor(private readonly src: string) {
    this.lexer = new Lexer(src);
    this.tok = this.lexer.next(); // lazily: the first problem in reading order is the one reported
  }

  query(): WqlQuery {
    this.keyword('SELECT');
    let properties: string[] | '*';
    const propertyPositions: number[] = [];
    if (this.isPunct('*')) {
      this.advance();
      properties = '*';
    } else {
      properties = [];
      let expected = "property name or '*'";
      do {
        const id = this.ident(expected);
        properties.push(id.name);
        propertyPositions.push(id.position);
        expected = 'property name';
      } while (this.isPunct(',') && this.advance());
    }
    this.keyword('FROM');
    const className = this.ident('class name').name;
    const q: WqlQuery = { className, properties, text: this.src };
    if (properties !== '*') q.propertyPositions = propertyPositions;
    if (this.isKeyword('WHERE')) {
      this.advance();
      q.where = this.or();
      if (this.tok.kind !== 'eof') this.fail('end of query');
    } else if (this.tok.kind !== 'eof') {
      this.fail('WHERE or end of query');
    }
    return q;
  }

  // condition := and (OR and)*;  and := not (AND not)*;  not := NOT not | primary
  private or(): WqlExpr {
    const operands = [this.and()];
    while (this.isKeyword('OR')) { this.advance(); operands.push(this.and()); }
    return operands.length === 1 ? operands[0] : { kind: 'or', operands };
  }

  private and(): WqlExpr {
    const operands = [this.not()];
    while (this.isKeyword('AND')) { this.advance(); operands.push(this.not()); }
    return operands.length === 1 ? operands[0] : { kind: 'and', operands };
  }

  private not(): WqlExpr {
    if (!this.isKeyword('NOT')) return this.primary();
    this.enter();
    this.advance();
    const operand = this.not();
    this.depth--;
    return { kind: 'not', operand };
  }

  private primary(): WqlExpr {
    if (this.isPunct('(')) {
      this.enter();
      this.advance();
      const e = this.or();
      if (!this.isPunct(')')) this.fail("')'");
      this.advance();
      this.depth--;
      return e;
    }
    if (this.isName()) return this.propertyPredicate(this.ident('property name'));
    if (this.isLiteral()) {
      // literal op prop: the operator is flipped so the node always reads prop op literal.
      const lit = this.advance();
      const opTok = this.tok;
      if (opTok.kind !== 'op') this.fail('comparison operator');
      this.advance();
      const property = this.ident('property name');
      return this.comparison(property, flip(opTok.text as WqlOperator), lit, opTok.pos);
    }
    return this.fail('condition');
  }

  private propertyPredicate(property: WqlIdent): WqlExpr {
    if (this.tok.kind === 'op') {
      const opTok = this.advance();
      if (!this.isLiteral()) this.fail('literal');
      return this.comparison(property, opTok.text as WqlOperator, this.advance(), opTok.pos);
    }
    if (this.isKeyword('IS')) {
      this.advance();
      const negated = this.isKeyword('NOT');
      if (negated) this.advance();
      this.keyword('NULL');
      return { kind: 'isNull', property, negated };
    }
    let negated = false;
    if (this.isKeyword('NOT')) {
      this.advance();
      negated = true;
      if (!this.isKeyword('LIKE')) this.fail('LIKE');
    }
    if (this.isKeyword('LIKE')) {
      this.advance();
      if (this.tok.kind !== 'string') this.fail('string pattern');
      const pat = this.advance();
      return { kind: 'like', property, pattern: pat.text, negated, matcher: compileLike(pat) };
    }
    return this.fail('comparison operator, LIKE or IS');
  }

  private comparison(property: WqlIdent, op: WqlOperator, lit: Token, opPos: number): WqlExpr {
    if (lit.text === 'NULL' && lit.kind === 'word') {
      // WQL: prop = NULL is prop IS NULL; an ordering against NULL means nothing, so refuse it.
      if (op !== '=' && op !== '<>') {
        throw new WqlError(`operator '${op}' cannot be used with NULL at position ${opPos} (use IS NULL)`, opPos);
      }
      return { kind: 'isNull', property, negated: op === '<>' };
    }
    const value: WqlLiteral =
      lit.kind === 'string' ? lit.text : lit.kind === 'number' ? lit.num! : lit.text === 'TRUE';
    return { kind: 'compare', property, op, value, prepared: prepare(value) };
  }

  // --- token helpers

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) {
      throw new WqlError(`expression nested too deeply at position ${this.tok.pos} (limit ${MAX_DEPTH})`, this.tok.pos);
    }
  }

  private isKeyword(k: string): boolean {
    return this.tok.kind === 'word' && this.tok.text === k;
  }

  private isPunct(p: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === p;
  }

  private isName(): boolean {
    return this.tok.kind === 'word' && !RESERVED.has(this.tok.text);
  }

  private isLiteral(): boolean {
    const t = this.tok;
    return t.kind === 'string' || t.kind === 'number' ||
      (t.kind === 'word' && (t.text === 'TRUE' || t.text === 'FALSE' || t.text === 'NULL'));
  }

  private keyword(k: string): void {
    if (!this.isKeyword(k)) this.fail(k);
    this.advance();
  }

  private ident(expected: string): WqlIdent {
    if (!this.isName()) this.fail(expected);
    const t = this.advance();
    return { name: t.raw, position: t.pos };
  }

  private fail(expected: string): never {
    const t = this.tok;
    let found = 'end of query';
    if (t.kind !== 'eof') {
      const raw = t.raw.length > 30 ? t.raw.slice(0, 30) + '...' : t.raw;
      found = t.kind === 'string' ? raw : `'${raw}'`;
    }
    throw new WqlError(`expected ${expected} at position ${t.pos}, found ${found}`, t.pos);
  }
}

function flip(op: WqlOperator): WqlOperator {
  switch (op) {
    case '<': return '>';
    case '>': return '<';
    case '<=': return '>=';
    case '>=': return '<=';
    default: return op;
  }
}

function prepare(value: WqlLiteral): PreparedLiteral {
  if (typeof value === 'string') {
    const str = value.toLowerCase();
    return {
      kind: 'string', str, num: toNumber(value),
      bool: str === 'true' ? true : str === 'false' ? false : undefined,
      time: parseDateTime(value),
    };
  }
  if (typeof value === 'boolean') return { kind: 'boolean', bool: value, num: value ? 1 : 0 };
  return { kind: 'number', num: value, bool: value == 0 ? false : value == 1 ? true : undefined };
}

/**
 * A CIM datetime `yyyymmddHHMMSS.mmmmmmsUUU` (UUU: UTC offset in minutes) or ISO 8601
 * (`yyyy-mm-dd[Thh:mm[:ss[.fff]]][Z|+hh:mm]`; no offset means UTC, so results do not depend
 * on the server's time zone). Epoch milliseconds; sub-millisecond digits are dropped.
 */
function parseDateTime(s: string): number | undefined {
  const cim = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})([+-])(\d{3})$/.exec(s);
  if (cim) {
    const [y, mo, d, h, mi, se, us] = cim.slice(1, 8).map(Number);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
    const offset = Number(cim[9]) * (cim[8] === '-' ? -1 : 1);
    return Date.UTC(y, mo - 1, d, h, mi, se, Math.floor(us / 1000)) - offset * 60_000;
  }
  const iso = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(s);
  if (iso) {
    const zone = (iso[3] ?? 'Z').toUpperCase().replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
    const t = Date.parse(`${iso[1]}T${iso[2] ?? '00:00'}${zone}`);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

const MAX_LIKE_PATTERN = 4096;

/**
 * WQL LIKE: `%` any run, `_` one character, `[abc]`, `[a-z]`, `[^a]` sets; everything else
 * literal (RegExp metacharacters escaped). Case-insensitive, as in WMI.
 */
function compileLike(tok: Token): LikeMatcher {
  const pattern = tok.text;
  const at = (i: number) => tok.offsets![i] ?? tok.pos;
  // A pattern tens of thousands of characters long overflows V8's RegExp compiler; no property
  // value a LIKE is meant for (a name, a path) comes near this.
  if (pattern.length > MAX_LIKE_PATTERN) throw new WqlError(`LIKE pattern of ${pattern.length} characters at position ${tok.pos} is longer than ${MAX_LIKE_PATTERN}`, tok.pos);
  const segments: string[] = [''];
  for (let i = 0; i < pattern.length;) {
    const c = String.fromCodePoint(pattern.codePointAt(i)!);
    if (c === '%') {
      if (segments[segments.length - 1] !== '') segments.push('');
      else if (segments.length === 1) segments.push(''); // leading %: empty first segment
      i++;
      continue;
    }
    let re: string;
    if (c === '_') {
      re = '.';
      i++;
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) throw new WqlError(`unterminated '[' in LIKE pattern at position ${at(i)}`, at(i));
      re = likeSet(pattern.slice(i + 1, close), at(i));
      i = close + 1;
    } else {
      re = escapeRegExp(c);
      i += c.length;
    }
    segments[segments.length - 1] += re;
  }
  const flags = 'isu';
  if (segments.length === 1) return { exact: new RegExp(`^(?:${segments[0]})$`, flags), middle: [] };
  const [head, ...rest] = segments;
  const tail = rest.pop()!;
  return {
    first: head ? new RegExp(`^(?:${head})`, flags) : undefined,
    middle: rest.filter((m) => m !== '').map((m) => new RegExp(m, 'g' + flags)),
    last: tail ? new RegExp(`(?:${tail})$`, 'g' + flags) : undefined,
  };
}

function likeSet(body: string, pos: number): string {
  let negate = false;
  if (body.startsWith('^')) { negate = true; body = body.slice(1); }
  const chars = Array.from(body);
  if (chars.length === 0) throw new WqlError(`empty set '[]' in LIKE pattern at position ${pos}`, pos);
  let cls = '';
  for (let k = 0; k < chars.length; k++) {
    // a-b is a range unless '-' is first or last in the set, where it is literal.
    if (chars[k + 1] === '-' && k + 2 < chars.length) {
      const lo = chars[k], hi = chars[k + 2];
      if (lo.codePointAt(0)! > hi.codePointAt(0)!) {
        throw new WqlError(`invalid range '${lo}-${hi}' in LIKE pattern at position ${pos}`, pos);
      }
      cls += `${escapeClassChar(lo)}-${escapeClassChar(hi)}`;
      k += 2;
    } else {
      cls += escapeClassChar(chars[k]);
    }
  }
  return `[${negate ? '^' : ''}${cls}]`;
}

const escapeRegExp = (c: string) => (/[\\^$.*+?()[\]{}|/]/.test(c) ? '\\' + c : c);
const escapeClassChar = (c: string) => (/[\\\]\[^-]/.test(c) ? '\\' + c : c);

function likeMatch(m: LikeMatcher, s: string): boolean {
  if (m.exact) return m.exact.test(s);
  let pos = 0;
  if (m.first) {
    const r = m.first.exec(s);
    if (!r) return false;
    pos = r[0].length;
  }
  // Leftmost placement of each middle segment leaves the most room for the rest, so no
  // backtracking between segments is ever needed.
  for (const re of m.middle) {
    re.lastIndex = pos;
    const r = re.exec(s);
    if (!r) return false;
    pos = r.index + r[0].length;
  }
  if (!m.last) return true;
  m.last.lastIndex = pos;
  return m.last.test(s);
}

/** Parses a WQL query; throws WqlError for anything malformed. */
export function parseWql(text: string): WqlQuery {
  return new Parser(text).query();
}

// ---------------------------------------------------------------------------------------
// Validation, evaluation, projection

/**
 * Throws WqlError at the first property (select list, then WHERE, in query order) that is
 * not among the class's propertyNames, compared case-insensitively as WMI does.
 */
export function validateQuery(q: WqlQuery, propertyNames: string[]): void {
  const known = new Set(propertyNames.map((n) => n.toLowerCase()));
  const check = (name: string, position: number) => {
    if (!known.has(name.toLowerCase())) {
      throw new WqlError(`unknown property '${name}' at position ${position} (class ${q.className} has no such property)`, position);
    }
  };
  if (q.properties !== '*') q.properties.forEach((p, i) => check(p, q.propertyPositions?.[i] ?? 0));
  const walk = (e: WqlExpr): void => {
    switch (e.kind) {
      case 'and': case 'or': e.operands.forEach(walk); break;
      case 'not': walk(e.operand); break;
      default: check(e.property.name, e.property.position);
    }
  };
  if (q.where) walk(q.where);
}

/**
 * Whether the instance passes the WHERE clause (true if there is none). Three-valued logic:
 * a comparison involving NULL (or a property the instance lacks) is unknown, NOT unknown is
 * unknown, and only true passes.
 */
export function matches(q: WqlQuery, properties: Record<string, CimValue>): boolean {
  return q.where === undefined || evaluate(q.where, properties) === true;
}

/** true / false / unknown (undefined). */
type Tri = boolean | undefined;

function evaluate(e: WqlExpr, props: Record<string, CimValue>): Tri {
  switch (e.kind) {
    case 'and': {
      let r: Tri = true;
      for (const o of e.operands) {
        const v = evaluate(o, props);
        if (v === false) return false;
        if (v === undefined) r = undefined;
      }
      return r;
    }
    case 'or': {
      let r: Tri = false;
      for (const o of e.operands) {
        const v = evaluate(o, props);
        if (v === true) return true;
        if (v === undefined) r = undefined;
      }
      return r;
    }
    case 'not': {
      const v = evaluate(e.operand, props);
      return v === undefined ? undefined : !v;
    }
    case 'isNull': {
      const v = lookup(props, e.property.name);
      return (v === null || v === undefined) !== e.negated;
    }
    case 'compare': {
      const { op, prepared } = e;
      return any(lookup(props, e.property.name), (s) => compare(s, op, prepared));
    }
    case 'like': {
      const { matcher, negated } = e;
      return any(lookup(props, e.property.name), (s) => {
        // Numbers are matched by their decimal text; booleans and dates never match.
        const text = typeof s === 'string' ? s : typeof s === 'number' || typeof s === 'bigint' ? String(s) : undefined;
        return text !== undefined && likeMatch(matcher, text) !== negated;
      });
    }
  }
}

/**
 * Applies a scalar test to a value: null/missing is unknown; an array passes if any
 * element does (an extension: WMI does not accept arrays in WHERE), an empty one fails.
 */
function any(v: CimValue | undefined, test: (s: CimScalar) => boolean): Tri {
  if (v === null || v === undefined) return undefined;
  if (!Array.isArray(v)) return test(v);
  let r: Tri = false;
  for (const s of v) {
    if (s === null || s === undefined) r = undefined;
    else if (test(s)) return true;
  }
  return r;
}

/** Property values by name, case-insensitively; the exact spelling is tried first as it is the common case. */
function lookup(props: Record<string, CimValue>, name: string): CimValue | undefined {
  if (Object.hasOwn(props, name)) return props[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(props)) {
    if (k.length === lower.length && k.toLowerCase() === lower) return props[k];
  }
  return undefined;
}

/** Incomparable pairs (a date against a number, a non-numeric string against a number) are false for every operator, <> included. */
function compare(v: CimScalar, op: WqlOperator, p: PreparedLiteral): boolean {
  const c = order(v, p);
  if (c === undefined) return false;
  switch (op) {
    case '=': return c === 0;
    case '<>': return c !== 0;
    case '<': return c < 0;
    case '>': return c > 0;
    case '<=': return c <= 0;
    case '>=': return c >= 0;
  }
}

/**
 * Sign of (value - literal), or undefined when they cannot be compared.
 * - string value: against a string literal case-insensitively (lexicographic on lowercase);
 *   against a number, the value is converted to a number (non-numeric: incomparable);
 *   against TRUE/FALSE, only the text 'true'/'false'.
 * - number/bigint value: against numbers, numeric strings, and TRUE/FALSE as 1/0.
 * - boolean value: against TRUE/FALSE, 0/1 and 'true'/'false'; false < true.
 * - Date value: against a string literal that is a CIM or ISO 8601 datetime, by time.
 */
function order(v: CimScalar, p: PreparedLiteral): number | undefined {
  switch (typeof v) {
    case 'string': {
      if (p.kind === 'string') {
        const a = v.toLowerCase();
        return a < p.str! ? -1 : a > p.str! ? 1 : 0;
      }
      if (p.kind === 'number') {
        const n = toNumber(v);
        return n === undefined ? undefined : numOrder(n, p.num!);
      }
      const lower = v.trim().toLowerCase();
      const b = lower === 'true' ? 1 : lower === 'false' ? 0 : undefined;
      return b === undefined ? undefined : b - (p.bool ? 1 : 0);
    }
    case 'number':
    case 'bigint':
      return p.num === undefined ? undefined : numOrder(v, p.num);
    case 'boolean':
      return p.bool === undefined ? undefined : Number(v) - Number(p.bool);
    default: {
      if (!(v instanceof Date) || p.time === undefined) return undefined;
      const t = v.getTime();
      return Number.isNaN(t) ? undefined : Math.sign(t - p.time);
    }
  }
}

/** JS relational operators and == compare a bigint with a number exactly, so no conversion is needed. */
function numOrder(a: number | bigint, b: number | bigint): number | undefined {
  return a < b ? -1 : a > b ? 1 : a == b ? 0 : undefined; // NaN: incomparable
}

const selectSets = new WeakMap<WqlQuery, Set<string>>();

/**
 * The instance's properties that the query selects (all of them for `*`), matched
 * case-insensitively; keys keep the instance's own spelling and order. A selected property
 * the instance does not have is left out rather than invented. Always a new object.
 */
export function project(q: WqlQuery, properties: Record<string, CimValue>): Record<string, CimValue> {
  if (q.properties === '*') return { ...properties };
  let wanted = selectSets.get(q);
  if (!wanted) {
    wanted = new Set(q.properties.map((p) => p.toLowerCase()));
    selectSets.set(q, wanted);
  }
  const out: Record<string, CimValue> = {};
  for (const k of Object.keys(properties)) {
    if (wanted.has(k.toLowerCase())) out[k] = properties[k];
  }
  return out;
}
