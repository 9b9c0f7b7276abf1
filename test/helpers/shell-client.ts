// A minimal WinRS client over the in-process app, writing requests as pywinrm and the Go client
// do (winrm-wire.md, "The remote shell"), for the shell's integration tests.
import { envelope } from './envelope.js';
import { basic, type ALICE } from './server.js';
import { xp, xpAll } from './xpath.js';

export const RSP = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
export const SHELL_URI = `${RSP}/cmd`;
export const SHELL_ACTION = {
  command: `${RSP}/Command`,
  send: `${RSP}/Send`,
  receive: `${RSP}/Receive`,
  signal: `${RSP}/Signal`,
};
export const SIGNAL = {
  terminate: `${RSP}/signal/terminate`,
  ctrlC: `${RSP}/signal/ctrl_c`,
  ctrlBreak: `${RSP}/signal/ctrl_break`,
};

interface Reply {
  status: number;
  text: string;
}
type Post = (xml: string, auth?: string | null) => PromiseLike<Reply>;

export interface CreateOptions {
  workingDirectory?: string;
  env?: Record<string, string>;
  idleTimeout?: string;
}

export interface Received {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
  /** Receives answered with TimedOut before Done. */
  timeouts: number;
  receives: number;
}

/** One user's view of the shell resource. Every method throws on an unexpected status. */
export class ShellClient {
  constructor(
    private readonly post: Post,
    private readonly who: typeof ALICE,
  ) {}

  async request(o: Parameters<typeof envelope>[0]): Promise<Reply> {
    const r = await this.post(envelope({ resourceUri: SHELL_URI, ...o }), basic(this.who));
    return { status: r.status, text: r.text };
  }

  private async ok(o: Parameters<typeof envelope>[0]): Promise<string> {
    const r = await this.request(o);
    if (r.status !== 200) throw new Error(`${o.action}: HTTP ${r.status}: ${xp(r.text, '//s:Reason/s:Text') || r.text}`);
    return r.text;
  }

  async create(o: CreateOptions = {}): Promise<string> {
    const env = o.env ? `<rsp:Environment>${Object.entries(o.env).map(([k, v]) => `<rsp:Variable Name="${k}">${v}</rsp:Variable>`).join('')}</rsp:Environment>` : '';
    const body = `<rsp:Shell xmlns:rsp="${RSP}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>${o.workingDirectory ? `<rsp:WorkingDirectory>${o.workingDirectory}</rsp:WorkingDirectory>` : ''}${env}${o.idleTimeout ? `<rsp:IdleTimeOut>${o.idleTimeout}</rsp:IdleTimeOut>` : ''}</rsp:Shell>`;
    const text = await this.ok({ action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create', options: { WINRS_NOPROFILE: 'FALSE', WINRS_CODEPAGE: '65001' }, body });
    return xp(text, '//x:ResourceCreated//w:Selector[@Name="ShellId"]');
  }

  commandBody(command: string, args: string[] = []): string {
    return `<rsp:CommandLine xmlns:rsp="${RSP}"><rsp:Command><![CDATA[${command}]]></rsp:Command>${args.map((a) => `<rsp:Arguments><![CDATA[${a}]]></rsp:Arguments>`).join('')}</rsp:CommandLine>`;
  }

  async command(shellId: string, command: string, args: string[] = [], options: Record<string, string> = {}): Promise<string> {
    const text = await this.ok({ action: SHELL_ACTION.command, selectors: { ShellId: shellId }, options: { WINRS_CONSOLEMODE_STDIN: 'TRUE', ...options }, body: this.commandBody(command, args) });
    return xp(text, '//rsp:CommandResponse/rsp:CommandId');
  }

  sendBody(commandId: string, data: Buffer | string, end = false): string {
    return `<rsp:Send xmlns:rsp="${RSP}"><rsp:Stream Name="stdin" CommandId="${commandId}"${end ? ' End="true"' : ''}>${Buffer.from(data).toString('base64')}</rsp:Stream></rsp:Send>`;
  }

  async send(shellId: string, commandId: string, data: Buffer | string, end = false): Promise<void> {
    await this.ok({ action: SHELL_ACTION.send, selectors: { ShellId: shellId }, body: this.sendBody(commandId, data, end) });
  }

  receiveBody(commandId: string): string {
    return `<rsp:Receive xmlns:rsp="${RSP}"><rsp:DesiredStream CommandId="${commandId}">stdout stderr</rsp:DesiredStream></rsp:Receive>`;
  }

  /** One Receive: its raw reply (a TimedOut fault included). */
  receiveOnce(shellId: string, commandId: string, operationTimeout = 'PT20S', maxEnvelopeSize?: number): Promise<Reply> {
    return this.request({ action: SHELL_ACTION.receive, selectors: { ShellId: shellId }, operationTimeout, maxEnvelopeSize, body: this.receiveBody(commandId) });
  }

  /** Receive until Done, as both clients do: a TimedOut fault means "again". */
  async receiveAll(shellId: string, commandId: string, operationTimeout = 'PT20S', maxEnvelopeSize?: number): Promise<Received> {
    const out: Received = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: -1, timeouts: 0, receives: 0 };
    const parts: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    for (;;) {
      const r = await this.receiveOnce(shellId, commandId, operationTimeout, maxEnvelopeSize);
      out.receives++;
      if (r.status === 500 && xp(r.text, '//f:WSManFault/@Code') === '2150858793') {
        out.timeouts++;
        continue;
      }
      if (r.status !== 200) throw new Error(`Receive: HTTP ${r.status}: ${xp(r.text, '//s:Reason/s:Text')}`);
      for (const name of ['stdout', 'stderr'] as const) {
        for (const chunk of xpAll(r.text, `//rsp:Stream[@Name="${name}"]`)) parts[name].push(Buffer.from(chunk, 'base64'));
      }
      if (xp(r.text, '//rsp:CommandState/@State') === `${RSP}/CommandState/Done`) {
        out.exitCode = Number(xp(r.text, '//rsp:CommandState/rsp:ExitCode'));
        out.stdout = Buffer.concat(parts.stdout);
        out.stderr = Buffer.concat(parts.stderr);
        return out;
      }
    }
  }

  signalBody(commandId: string, code: string): string {
    return `<rsp:Signal xmlns:rsp="${RSP}" CommandId="${commandId}"><rsp:Code>${code}</rsp:Code></rsp:Signal>`;
  }

  async signal(shellId: string, commandId: string, code: string): Promise<void> {
    await this.ok({ action: SHELL_ACTION.signal, selectors: { ShellId: shellId }, body: this.signalBody(commandId, code) });
  }

  async delete(shellId: string): Promise<void> {
    await this.ok({ action: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete', selectors: { ShellId: shellId } });
  }

  /** Create, Command, Receive until Done, terminate, Delete: pywinrm's run_cmd. */
  async run(command: string, args: string[] = [], o: CreateOptions = {}): Promise<Received> {
    const shellId = await this.create(o);
    try {
      const commandId = await this.command(shellId, command, args);
      const out = await this.receiveAll(shellId, commandId);
      await this.signal(shellId, commandId, SIGNAL.terminate);
      return out;
    } finally {
      await this.delete(shellId);
    }
  }
}

/** Processes whose whole command line is `commandLine` (argv joined by spaces), from /proc: what a no-orphan test counts. */
export async function processesWith(commandLine: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const argv = (await readFile(`/proc/${name}/cmdline`, 'latin1')).split('\0').filter(Boolean);
      if (argv.join(' ') === commandLine) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Poll until `check` holds or `ms` pass; returns its last value. */
export async function eventually<T>(check: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
