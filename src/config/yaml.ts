// YAML with positions: a file's problems are reported at their line, whether the YAML itself is
// broken or a value the schema refuses (the configuration, the lab's files). js-yaml, for what it
// costs at idle (about 2 MB of private memory against 4 for `yaml`, measured; the README's
// Benchmarks), with its parse events giving each node's line. YAML 1.2's core schema: no
// timestamps or merge keys, so a value means what it reads as.
import { CORE_SCHEMA, dump, load, YAMLException } from 'js-yaml';

export class YamlError extends Error {}

export interface ReadYaml {
  value: unknown;
  /** `file:line` of the node at a path (the nearest that exists), for messages. */
  at(path: readonly PropertyKey[]): string;
}

/** A node as the parser met it: its line, its kind, and the nodes inside it (a mapping's as key, value, key, value…). */
interface Node {
  line: number;
  kind?: string;
  result?: unknown;
  children: Node[];
}

export function readYaml(text: string, file: string): ReadYaml {
  const root: Node = { line: 1, children: [] };
  const open: Node[] = [root];
  let value: unknown;
  try {
    value = load(text, {
      schema: CORE_SCHEMA,
      filename: file,
      listener(event, state) {
        if (event === 'open') {
          const node: Node = { line: state.line + 1, children: [] };
          open.at(-1)!.children.push(node);
          open.push(node);
        } else {
          const node = open.pop()!;
          node.kind = state.kind ?? undefined;
          node.result = state.result;
        }
      },
    });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    throw new YamlError(`${file}:${err.mark.line + 1}:${err.mark.column + 1}: not valid YAML: ${err.reason}`);
  }
  // A flow collection inside a block one is reported as a node wrapping it: a mapping never has
  // one child (its children are key and value pairs), so one that does is such a wrapper.
  const unwrap = (n: Node): Node => (n.kind === 'mapping' && n.children.length === 1 ? unwrap(n.children[0]!) : n);
  const at = (path: readonly PropertyKey[]) => {
    let node = root.children[0];
    let line = node?.line;
    for (const segment of path) {
      if (!node) break;
      node = unwrap(node);
      if (node.kind === 'mapping') {
        const i = node.children.findIndex((k, j) => j % 2 === 0 && String(k.result) === String(segment));
        if (i < 0) break;
        // A map's entry is where its key is written (its value may start on the next line).
        line = node.children[i]!.line;
        node = node.children[i + 1];
      } else if (node.kind === 'sequence' && typeof segment === 'number' && node.children[segment]) {
        node = node.children[segment];
        line = node!.line;
      } else {
        break;
      }
    }
    return line === undefined ? file : `${file}:${line}`;
  };
  return { value: value ?? {}, at };
}

/** Each of a schema's refusals on its own line, at the line of the value refused. */
export function describeIssues(read: ReadYaml, issues: readonly { path: readonly PropertyKey[]; message: string; keys?: readonly string[] }[]): string {
  // A key the schema does not know is reported where it is written, not at its section.
  return issues.map((i) => `${read.at(i.keys?.length ? [...i.path, i.keys[0]!] : i.path)}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`).join('\n');
}

/** YAML as winrmd writes it (`subscription export`, `winrmd record`): block style, no line folding. */
export const writeYaml = (value: unknown): string => dump(value, { lineWidth: -1 });
