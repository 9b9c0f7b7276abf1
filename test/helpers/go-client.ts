// Drives the real Go WinRM client: Debian's github.com/masterzen/winrm (0.0~git20200615.c42b513),
// wrapped by test/interop/go/winrm-client/main.go and built by test/interop/go/build.sh (which
// test/setup.sh runs) to dist/test/go-winrm-client. One JSON job in on stdin, one JSON result out.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJsonClient } from './json-client.js';

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
  /** Unused by auth 'certificate' (pass ''). */
  user: string;
  password: string;
  /**
   * 'basic' (default): the library's default transport, Basic on every request.
   * 'ntlm': winrm.ClientNTLM (go-ntlmssp's Negotiator; no SIGN/SEAL, no MIC, no channel bindings).
   * 'certificate': winrm.ClientAuthRequest, the client certificate certPem/keyPem and the
   * https/mutual security profile as the Authorization header.
   */
  auth?: 'basic' | 'ntlm' | 'certificate';
  /** PEM file paths. caPem verifies the server's certificate (with insecure false), for any auth. */
  caPem?: string;
  certPem?: string;
  keyPem?: string;
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
  /** TCP connections the client opened while the step ran (overlapping counts in parallel sub-steps). */
  dials: number;
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

/** Runs the Go harness on one job: JSON in and out. */
export function runGoClient(job: Job, timeoutMs = 60_000): Promise<StepResult[]> {
  if (!existsSync(GO_CLIENT)) return Promise.reject(new Error(`${GO_CLIENT} is missing: run sh test/setup.sh`));
  return runJsonClient<StepResult>(GO_CLIENT, [], job, { timeoutMs });
}
