// YAML with positions: a file's problems are reported at their line, whether the YAML itself is
// broken or a value the schema refuses (the configuration, the lab's files). YAML 1.2's core
// schema: no timestamps or merge keys, so a value means what it reads as.
import { isMap, isNode, isScalar, LineCounter, parseDocument, stringify, type Document } from 'yaml';

export class YamlError extends Error {}

export interface ReadYaml {
  value: unknown;
  /** `file:line` of the node at a path (the nearest that exists), for messages. */
  at(path: readonly PropertyKey[]): string;
}

export function readYaml(text: string, file: string): ReadYaml {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, schema: 'core', prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lines.linePos(first.pos[0]);
    throw new YamlError(`${file}:${line}:${col}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const line = (offset: number) => `${file}:${lines.linePos(offset).line}`;
  const at = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      // A map's entry is where its key is written (its value may start on the next line).
      const parent = n > 0 ? doc.getIn(path.slice(0, n - 1) as unknown[], true) : undefined;
      const key = isMap(parent) ? parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[n - 1]))?.key : undefined;
      if (isNode(key) && key.range) return line(key.range[0]);
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return line(node.range[0]);
    }
    return file;
  };
  return { value: doc.toJS({ maxAliasCount: 100 }) ?? {}, at };
}

/** Each of a schema's refusals on its own line, at the line of the value refused. */
export function describeIssues(read: ReadYaml, issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${read.at(i.path)}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`).join('\n');
}

/** YAML as winrmd writes it (`subscription export`): block style, no line folding. */
export const writeYaml = (value: unknown): string => stringify(value, { lineWidth: 0 });
