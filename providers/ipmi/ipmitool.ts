// ipmitool as a transport: `ipmitool <connection> raw <netfn> <cmd> <data…>` per request, spawned
// with an argument vector (never through a shell), its hex output parsed. It reaches what the
// native transport cannot: the host's own BMC in-band (`-I open`, /dev/ipmi0) and BMCs whose
// quirks ipmitool already knows. The password travels in the child's environment (`-E`), never
// on its command line where any local user could read it from /proc.
import { spawn } from 'node:child_process';
import { IpmiError, type IpmiRequest, type IpmiResponse, type IpmiTransport } from './transport.js';

export interface IpmitoolOptions {
  /** Empty: the local BMC in-band through the OpenIPMI driver. */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  privilege?: 'callback' | 'user' | 'operator' | 'administrator';
  cipherSuite?: number;
  timeoutMs?: number;
  retries?: number;
  /** The ipmitool executable. */
  command?: string;
}

const OUTPUT_LIMIT = 64 * 1024;

export class IpmitoolTransport implements IpmiTransport {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly args: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly deadlineMs: number;

  constructor(private readonly opts: IpmitoolOptions) {
    const timeoutS = Math.max(1, Math.ceil((opts.timeoutMs ?? 1000) / 1000));
    const retries = opts.retries ?? 3;
    // -v: one level of detail puts the reason a session failed on stderr (RAKP 2 HMAC is invalid).
    this.args = ['-v'];
    this.env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' };
    if (opts.host) {
      this.args.push('-I', 'lanplus', '-H', opts.host, '-p', String(opts.port ?? 623),
        '-C', String(opts.cipherSuite ?? 3), '-L', (opts.privilege ?? 'administrator').toUpperCase(),
        '-N', String(timeoutS), '-R', String(retries));
      if (opts.user !== undefined) this.args.push('-U', opts.user);
      this.args.push('-E');
      this.env.IPMI_PASSWORD = opts.password ?? '';
    } else {
      this.args.push('-I', 'open');
    }
    // ipmitool's own retries, then a margin for its session set-up and the extra probes it sends.
    this.deadlineMs = timeoutS * 1000 * (retries + 1) * 2 + 2000;
  }

  request(req: IpmiRequest, signal?: AbortSignal): Promise<IpmiResponse> {
    const run = this.queue.then(() => this.run(req, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private run(req: IpmiRequest, signal?: AbortSignal): Promise<IpmiResponse> {
    if (this.closed) return Promise.reject(new IpmiError('closed', 'the ipmitool transport is closed'));
    if (signal?.aborted) return Promise.reject(new IpmiError('closed', 'the request was aborted'));
    const hex = (n: number) => `0x${n.toString(16)}`;
    const args = [...this.args, ...(req.lun ? ['-l', String(req.lun)] : []),
      'raw', hex(req.netFn), hex(req.cmd), ...Array.from(req.data ?? [], hex)];
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.command ?? 'ipmitool', args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let failure: IpmiError | undefined;
      const stop = (err: IpmiError) => {
        failure ??= err;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => stop(new IpmiError('timeout', `${this.target()} did not answer ipmitool within ${this.deadlineMs} ms`)), this.deadlineMs);
      const onAbort = () => stop(new IpmiError('closed', 'the request was aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => { if (stdout.length < OUTPUT_LIMIT) stdout += d.toString('latin1'); });
      child.stderr.on('data', (d: Buffer) => { if (stderr.length < OUTPUT_LIMIT) stderr += d.toString('latin1'); });
      child.on('error', (err) => stop(new IpmiError('closed', `cannot run ipmitool: ${err.message}`)));
      child.on('close', (code) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (failure) return reject(failure);
        try {
          resolve(parseRawOutput(code ?? -1, stdout, stderr, this.target()));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  private target(): string {
    return this.opts.host ? `BMC ${this.opts.host}:${this.opts.port ?? 623}` : 'the local BMC';
  }
}

/** What `ipmitool raw` printed → a response, or the reason there was none. */
export function parseRawOutput(exitCode: number, stdout: string, stderr: string, target: string): IpmiResponse {
  if (exitCode === 0) {
    const bytes = stdout.trim().split(/\s+/).filter(Boolean);
    if (!bytes.every((b) => /^[0-9a-f]{2}$/i.test(b))) {
      throw new IpmiError('protocol', `ipmitool printed an unexpected response from ${target}`);
    }
    return { cc: 0, data: Buffer.from(bytes.join(''), 'hex') };
  }
  // "Unable to send RAW command (channel=0x0 netfn=0x4 lun=0x0 cmd=0x2d rsp=0xcb): …"
  const cc = /\brsp=0x([0-9a-f]{1,2})\)/i.exec(stderr);
  if (cc) return { cc: parseInt(cc[1], 16), data: Buffer.alloc(0) };
  const reason = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Loading IANA')).slice(-2).join('; ');
  if (/RAKP 2 HMAC is invalid|unauthorized name|invalid role|insufficient privilege|invalid name length|RAKP 4 message has invalid integrity/i.test(stderr)) {
    throw new IpmiError('auth', `${target} refused the credentials: ${reason}`);
  }
  if (/Get Auth Capabilities error|No response|Unable to establish|timeout/i.test(stderr)) {
    throw new IpmiError('timeout', `${target} did not answer: ${reason || 'no response'}`);
  }
  throw new IpmiError('protocol', `ipmitool failed for ${target} (exit ${exitCode}): ${reason || 'no message'}`);
}
