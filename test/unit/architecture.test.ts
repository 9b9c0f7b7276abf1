// The import rules of DESIGN.md ("Where the next capabilities plug in"), held by reading the
// sources: the protocol core imports neither the HTTP transport nor a provider; providers import only
// src/provider-api.ts from src/; provider-api.ts is a leaf over soap/names.ts, which imports
// nothing; only the composition roots (src/server.ts for winrmd, src/lab/ for the lab's virtual
// hosts, made of the same providers) know the providers; and every schema URI
// is a literal in names.ts alone (DESIGN.md principle 6).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** What only src/http and the composition root may import: the sockets and HTTP itself. */
const TRANSPORT = /^(node:)?(http|https|http2|net|tls)$/;
const HTTP = /^(node:)?(http|https|http2)$/;

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

const FILES = [...sources('src'), ...sources('providers')];

/** A file's imports and re-exports: relative ones as repository paths (`src/soap/names.ts`), packages as written. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers.map((s) => (s.startsWith('.') ? path.relative(ROOT, path.resolve(ROOT, path.dirname(file), s)).replace(/\.js$/, '.ts') : s));
}

const IMPORTS = new Map(FILES.map((f) => [f, importsOf(f)]));
const isRelative = (target: string) => target.startsWith('src/') || target.startsWith('providers/');

/** The (file → import) pairs of `files` that `allowed` refuses. */
function violations(files: (file: string) => boolean, allowed: (target: string, file: string) => boolean): string[] {
  return [...IMPORTS].filter(([f]) => files(f)).flatMap(([f, targets]) => targets.filter((t) => !allowed(t, f)).map((t) => `${f} → ${t}`));
}

const CORE = ['src/wsman/', 'src/soap/', 'src/cim/'];
const inCore = (f: string) => CORE.some((d) => f.startsWith(d));

describe('the import rules', () => {
  it('finds the sources it checks (a rule over no files would pass by itself)', () => {
    expect(IMPORTS.get('src/wsman/core.ts')).toContain('src/wsman/routes.ts');
    expect(IMPORTS.get('providers/shell/index.ts')).toContain('src/provider-api.ts');
  });

  it('the protocol core imports neither a provider nor the transport (node:http, node:net, node:tls), store or auth layers', () => {
    expect(violations(inCore, (t) => (isRelative(t) ? inCore(t) || t === 'src/provider-api.ts' : !TRANSPORT.test(t)))).toEqual([]);
  });

  it('a provider imports from src/ only src/provider-api.ts, and from providers/ only its own folder and providers/common', () => {
    const folder = (f: string) => f.split('/').slice(0, 2).join('/');
    expect(violations((f) => f.startsWith('providers/'), (t, f) => {
      if (!isRelative(t)) return !HTTP.test(t); // a provider never serves HTTP (IPMI's own sockets are UDP)
      return t === 'src/provider-api.ts' || folder(t) === folder(f) || t.startsWith('providers/common/');
    })).toEqual([]);
  });

  it('provider-api.ts imports only soap/names.ts, which imports nothing', () => {
    expect(IMPORTS.get('src/provider-api.ts')).toEqual(['src/soap/names.ts']);
    expect(IMPORTS.get('src/soap/names.ts')).toEqual([]);
  });

  it('only the composition roots, src/server.ts and the lab (src/lab/), import a provider', () => {
    expect(violations((f) => f.startsWith('src/') && f !== 'src/server.ts' && !f.startsWith('src/lab/'), (t) => !t.startsWith('providers/'))).toEqual([]);
  });
});

describe('every schema URI is in src/soap/names.ts', () => {
  /** String and template literals (comments may cite a URI) holding an http(s) URI. */
  function uriLiterals(file: string): string[] {
    const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
      if ((ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) && /https?:\/\//.test(node.text)) {
        found.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${node.text}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  }

  it('the check sees names.ts\'s literals', () => {
    expect(uriLiterals('src/soap/names.ts').length).toBeGreaterThan(20);
  });

  it('no other source file of src/ or providers/ spells one', () => {
    expect(FILES.filter((f) => f !== 'src/soap/names.ts').flatMap(uriLiterals)).toEqual([]);
  });
});
