// The built command line (dist/src/main.js, which `npm test` builds first) against a state folder
// of its own: what the admin commands' tests run.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CliRun { code: number; stdout: string; stderr: string }

export function cliWithState(prefix: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const config = path.join(dir, 'winrmd.yaml');
  writeFileSync(config, `stateDir: ${path.join(dir, 'state')}\n`);
  const main = path.resolve('dist/src/main.js');
  return {
    stateFile: path.join(dir, 'state', 'winrmd.db'),
    /** `winrmd ARGS --config …`, with `input` on its stdin. */
    run: (args: string[], input = '') => new Promise<CliRun>((resolve) => {
      const child = execFile('node', [main, ...args, '--config', config], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      child.stdin!.end(input);
    }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
