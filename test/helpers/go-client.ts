// Drives the real Go WinRM client: Debian's github.com/masterzen/winrm (0.0~git20200615.c42b513),
// wrapped by test/interop/go/winrm-client/main.go and built by test/interop/go/build.sh (which
// test/setup.sh runs) to dist/test/go-winrm-client. One JSON job in on stdin, one JSON result out.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this file that holds package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export const GO_CLIENT = path.join(repoRoot(), 'dist', 'test', 'go-winrm-client');

export type Step =
  /** client.Run: the whole command line in one rsp:Command, no stdin. */
  | { kind: 'run'; command: string }
  /** client.RunWithString: stdin as Send chunks; End is only sent after the command is Done. */
  | { kind: 'runWithString'; command: string; stdin: string }
  /** Execute, then Command.Close (Signal terminate) from a timer after cancelAfterMs. */
  | { kind: 'runCancel'; command: string; args?: string[]; cancelAfterMs: number }
  /** CreateShell/Execute with one rsp:Arguments per arg; stdin (even '') is sent then End at once. */
  | { kind: 'execute'; command: string; args?: string[]; stdin?: string }
  /** Sub-steps run concurrently on the same client; their results come back in order. */
  | { kind: 'parallel'; steps: Step[] };

export interface Job {
  host: string;
  port: number;
  https?: boolean;
  insecure?: boolean;
  user: string;
  password: string;
  /** The client's HTTP ResponseHeaderTimeout in seconds (default 60). */
  timeoutSeconds?: number;
  /** The w:OperationTimeout the client sends, e.g. 'PT5S' (default 'PT60S'). */
  operationTimeout?: string;
  /** The w:MaxEnvelopeSize the client sends (default 153600); stdin chunks are this minus 1000. */
  envelopeSize?: number;
  steps: Step[];
}

export interface StepResult {
  ok: boolean;
  /** base64 of the exact bytes received; see decode(). */
  stdout: string;
  stderr: string;
  exitCode: number;
  /** The client's error text, '' when none. */
  error: string;
  ms: number;
  /** execute/runCancel only: the errors of the Signal and Delete the harness sent itself. */
  signalError?: string;
  deleteError?: string;
  /** runCancel: the timer fired (and sent the Signal) before the command was Done. */
  cancelled?: boolean;
  /** parallel: the sub-steps' results in order. */
  results?: StepResult[];
}

/** A base64 stream from a result as UTF-8 text. */
export function decode(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** A base64 stream from a result as its exact bytes. */
export function decodeBytes(b64: string): Buffer {
  return Buffer.from(b64, 'base64');
}

/** Runs the Go harness on one job: no shell, a hard timeout (SIGKILL), JSON in and out. */
export function runGoClient(job: Job, timeoutMs = 60_000): Promise<StepResult[]> {
  return new Promise((resolve, reject) => {
    if (!existsSync(GO_CLIENT)) return reject(new Error(`${GO_CLIENT} is missing: run sh test/setup.sh`));
    // The library's transport uses http.ProxyFromEnvironment: a proxy from the environment must not
    // sit between the client and the test server (Go skips it for loopback, not for other names).
    const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) delete env[k];
    const child = spawn(GO_CLIENT, [], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`go-winrm-client timed out after ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`go-winrm-client exited ${code}; stderr: ${err}`));
      try {
        resolve((JSON.parse(out) as { results: StepResult[] }).results);
      } catch (e) {
        reject(new Error(`unparsable output (${String(e)}): ${out}; stderr: ${err}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}
