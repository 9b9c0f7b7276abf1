// Runs an interop client program on one JSON job: no shell, no proxy from the environment, a hard
// timeout (SIGKILL), the job on stdin and `{"results": [...]}` on stdout.
import { spawn } from 'node:child_process';

const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'];

export function runJsonClient<R>(file: string, args: string[], job: unknown, opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; dropEnv?: string[] }): Promise<R[]> {
  const name = [file, ...args].pop()!;
  return new Promise((resolve, reject) => {
    // The test servers are on loopback: a proxy from the environment must not sit in between.
    const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...opts.env };
    for (const k of [...PROXY_VARIABLES, ...(opts.dropEnv ?? [])]) delete env[k];
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} timed out after ${opts.timeoutMs} ms; stderr: ${err}`));
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${name} exited ${code}; stderr: ${err}`));
      try {
        resolve((JSON.parse(out) as { results: R[] }).results);
      } catch (e) {
        reject(new Error(`unparsable output (${String(e)}): ${out}; stderr: ${err}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}
