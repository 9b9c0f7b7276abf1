// The shell as clients that cannot be installed here drive it (winrm-wire.md, "More clients"):
// the Ruby WinRM gem (Vagrant, Chef, Test Kitchen), npm winrm-client, Ansible's stdin payloads and
// pypsrp's PowerShell remoting. Each client's requests are rebuilt from its source, in its own
// envelope shape, and its replies are read the way that client reads them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShellProvider } from '../../providers/shell/index.js';
import { configSchema } from '../../src/config/schema.js';
import { URI } from '../helpers/envelope.js';
import { ALICE, basic, testServer } from '../helpers/server.js';
import { RSP, SHELL_URI, ShellClient } from '../helpers/shell-client.js';
import { xp, xpAll } from '../helpers/xpath.js';

type Server = Awaited<ReturnType<typeof testServer>>;
type Reply = { status: number; text: string };

const SIGNAL_TERMINATE = `${RSP}/signal/terminate`;
const DONE = `${RSP}/CommandState/Done`;
const TIMED_OUT = '2150858793';
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const uuid = () => randomUUID().toUpperCase();

/**
 * The Ruby WinRM gem 2.x (lib/winrm/wsmv/{base,header,create_shell,command,command_output,
 * cleanup_command,close_shell}.rb, lib/winrm/wsmv/receive_response_reader.rb): an `env:` envelope
 * declaring all its namespaces, headers in merge_headers' order with p:SessionId, PT60S and
 * 153600; Command puts the command in one pair of quotes (`"#{@command}"`) that Gyoku escapes to
 * &quot;, with one rsp:Arguments per argument; Receive carries WSMAN_CMDSHELL_OPTION_KEEPALIVE.
 */
class RubyGem {
  private readonly sessionId = uuid();
  constructor(private readonly post: (xml: string) => Promise<Reply>) {}

  private envelope(action: string, o: { options?: [string, string][]; shellId?: string; body: string }): string {
    const options = o.options ? `<w:OptionSet>${o.options.map(([n, v]) => `<w:Option Name="${n}">${v}</w:Option>`).join('')}</w:OptionSet>` : '';
    const selector = o.shellId ? `<w:SelectorSet><w:Selector Name="ShellId">${o.shellId}</w:Selector></w:SelectorSet>` : '';
    return `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:env="${URI.soap}" xmlns:a="${URI.wsa}" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:n="${URI.wsen}" xmlns:x="${URI.wxf}" xmlns:w="${URI.wsman}" xmlns:p="${URI.wsmv}" xmlns:rsp="${RSP}" xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config"><env:Header>`
      + `<a:To>http://localhost:5985/wsman</a:To><a:ReplyTo><a:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>`
      + `<w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize><a:MessageID>uuid:${uuid()}</a:MessageID><p:SessionId mustUnderstand="false">uuid:${this.sessionId}</p:SessionId>`
      + `<w:Locale xml:lang="en-US" mustUnderstand="false"/><p:DataLocale xml:lang="en-US" mustUnderstand="false"/><w:OperationTimeout>PT60S</w:OperationTimeout>`
      + `<w:ResourceURI mustUnderstand="true">${SHELL_URI}</w:ResourceURI><a:Action mustUnderstand="true">${action}</a:Action>${options}${selector}</env:Header><env:Body>${o.body}</env:Body></env:Envelope>`;
  }

  private async send(xml: string): Promise<string> {
    const r = await this.post(xml);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${xp(r.text, '//s:Reason/s:Text')}`);
    return r.text;
  }

  /** Shells::Cmd#run: open, Command, ReceiveResponseReader#read_output, cleanup_command, close. */
  async run(command: string, args: string[] = []): Promise<{ stdout: string; stderr: string; exitcode: number; replies: number }> {
    const created = await this.send(this.envelope(`${URI.wxf}/Create`, {
      options: [['WINRS_NOPROFILE', 'FALSE'], ['WINRS_CODEPAGE', '65001']],
      body: '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>',
    }));
    const shellId = xp(created, "//*[@Name='ShellId']");
    const line = `<rsp:Command>${xmlEscape(`"${command}"`)}</rsp:Command>${args.map((a) => `<rsp:Arguments>${xmlEscape(a)}</rsp:Arguments>`).join('')}`;
    const commandId = xp(await this.send(this.envelope(`${RSP}/Command`, {
      options: [['WINRS_CONSOLEMODE_STDIN', 'TRUE'], ['WINRS_SKIP_CMD_SHELL', 'FALSE']],
      shellId,
      body: `<rsp:CommandLine CommandId="${uuid()}">${line}</rsp:CommandLine>`,
    })), "//*[local-name() = 'CommandId']");
    const out = { stdout: '', stderr: '', exitcode: undefined as number | undefined, replies: 0 };
    for (let done = false; !done;) {
      const r = await this.post(this.envelope(`${RSP}/Receive`, {
        options: [['WSMAN_CMDSHELL_OPTION_KEEPALIVE', 'TRUE']],
        shellId,
        body: `<rsp:Receive><rsp:DesiredStream CommandId="${commandId}">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
      }));
      if (r.status !== 200 && xp(r.text, '//f:WSManFault/@Code') === TIMED_OUT) continue; // send_get_output_message's retry
      if (r.status !== 200) throw new Error(`Receive: HTTP ${r.status}`);
      out.replies++;
      // read_streams skips empty Stream elements; handle_stream reads ExitCode only for the others.
      for (const name of ['stdout', 'stderr'] as const) {
        for (const text of xpAll(r.text, `/s:Envelope/s:Body/rsp:ReceiveResponse/rsp:Stream[@Name="${name}"]`).filter(Boolean)) {
          out[name] += Buffer.from(text, 'base64').toString();
          const code = xp(r.text, "//*[local-name() = 'ExitCode']");
          if (code) out.exitcode = Number(code);
        }
      }
      done = xp(r.text, `count(//*[@State='${DONE}'])`) !== '0';
    }
    await this.send(this.envelope(`${RSP}/Signal`, { shellId, body: `<rsp:Signal CommandId="${commandId}"><rsp:Code>${SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>` }));
    await this.send(this.envelope(`${URI.wxf}/Delete`, { shellId, body: '' }));
    return { ...out, exitcode: out.exitcode ?? 0 }; // with_output: `output.exitcode ||= 0`
  }
}

/**
 * npm winrm-client (and nodejs-winrm, which it follows; lib/shell.js, lib/command.js,
 * lib/base-request.js): an `s:` envelope with wsa/wsman prefixes, the command as given, and a
 * single Receive per command whose stdout Streams without End are the whole output.
 */
function npmEnvelope(action: string, o: { shellId?: string; options?: [string, string][]; body: string }): string {
  const selector = o.shellId ? `<wsman:SelectorSet><wsman:Selector Name="ShellId">${o.shellId}</wsman:Selector></wsman:SelectorSet>` : '';
  const options = o.options ? `<wsman:OptionSet>${o.options.map(([n, v]) => `<wsman:Option Name="${n}">${v}</wsman:Option>`).join('')}</wsman:OptionSet>` : '';
  return `<?xml version='1.0'?><s:Envelope xmlns:s="${URI.soap}" xmlns:wsa="${URI.wsa}" xmlns:wsman="${URI.wsman}" xmlns:p="${URI.wsmv}" xmlns:rsp="${RSP}"><s:Header>`
    + `<wsa:To>http://localhost:5985/wsman</wsa:To><wsman:ResourceURI mustUnderstand="true">${SHELL_URI}</wsman:ResourceURI>`
    + `<wsa:ReplyTo><wsa:Address mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>`
    + `<wsman:MaxEnvelopeSize mustUnderstand="true">153600</wsman:MaxEnvelopeSize><wsa:MessageID>uuid:${randomUUID()}</wsa:MessageID>`
    + `<wsman:Locale mustUnderstand="false" xml:lang="en-US"/><wsman:OperationTimeout>PT60S</wsman:OperationTimeout><wsa:Action mustUnderstand="true">${action}</wsa:Action>`
    + `${selector}${options}</s:Header><s:Body>${o.body}</s:Body></s:Envelope>`;
}

async function shellServer(shell: Record<string, unknown> = {}) {
  const provider = createShellProvider(configSchema.parse({ shell }).shell);
  const s = await testServer({}, [provider]);
  const post = async (xml: string) => {
    const r = await s.post(xml, basic(ALICE));
    return { status: r.status, text: r.body as string };
  };
  return { s, post, alice: new ShellClient(post, ALICE) };
}

describe('clients that need the last output and Done in one reply', () => {
  let s: Server;
  let post: (xml: string) => Promise<Reply>;
  let alice: ShellClient;
  beforeAll(async () => ({ s, post, alice } = await shellServer()));
  afterAll(() => s.server.close());

  it('the Ruby WinRM gem: `"uname -a; id"` in one pair of quotes runs as cmd.exe /c would run it', async () => {
    const out = await new RubyGem(post).run('uname -a; id');
    expect(out.stdout).toMatch(/^Linux .*\nuid=\d+\(nobody\)/);
    expect(out.exitcode).toBe(0);
    const args = await new RubyGem(post).run('printf', ['%s-%s', 'a', 'b']);
    expect(args.stdout).toBe('a-b');
  });

  it('the Ruby WinRM gem reads the exit code, every time: it comes with the last output (20 runs)', async () => {
    const gem = new RubyGem(post);
    for (let i = 0; i < 20; i++) {
      const out = await gem.run('echo out; exit 3');
      // The gem sets exitcode only from a ReceiveResponse that also has stream text: 3 proves they came together.
      expect({ run: i, stdout: out.stdout, exitcode: out.exitcode }).toEqual({ run: i, stdout: 'out\n', exitcode: 3 });
    }
  });

  it('npm winrm-client: one Receive gets output written 200 ms apart, and Done with the ExitCode', async () => {
    for (let i = 0; i < 5; i++) {
      const created = await post(npmEnvelope(`${URI.wxf}/Create`, {
        options: [['WINRS_NOPROFILE', 'FALSE'], ['WINRS_CODEPAGE', '437']],
        body: '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>',
      }));
      const shellId = xp(created.text, '//w:Selector[@Name="ShellId"]');
      const command = await post(npmEnvelope(`${RSP}/Command`, {
        shellId,
        options: [['WINRS_CONSOLEMODE_STDIN', 'TRUE'], ['WINRS_SKIP_CMD_SHELL', 'FALSE']],
        body: '<rsp:CommandLine><rsp:Command>echo x; sleep 0.2; echo y; exit 3</rsp:Command></rsp:CommandLine>',
      }));
      const commandId = xp(command.text, '//rsp:CommandId');
      const r = await post(npmEnvelope(`${RSP}/Receive`, { shellId, body: `<rsp:Receive><rsp:DesiredStream CommandId="${commandId}">stdout stderr</rsp:DesiredStream></rsp:Receive>` }));
      const stdout = xpAll(r.text, '//rsp:Stream[@Name="stdout"][not(@End)]').map((t) => Buffer.from(t, 'base64').toString()).join('');
      expect({ run: i, stdout, state: xp(r.text, '//rsp:CommandState/@State'), exitCode: xp(r.text, '//rsp:ExitCode') }).toEqual({ run: i, stdout: 'x\ny\n', state: DONE, exitCode: '3' });
      await post(npmEnvelope(`${URI.wxf}/Delete`, { shellId, body: '' }));
    }
  });

  it('a command that prints every 100 ms for 2 s still streams: many Receive replies, the first while it still runs', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'for i in $(seq 20); do echo "$i"; sleep 0.1; done; exit 4');
    const first = await alice.receiveOnce(shellId, commandId);
    // Running: the reply did not wait for the command's end (a wall-clock bound flaked on a loaded machine).
    expect(xp(first.text, '//rsp:CommandState/@State')).toMatch(/Running$/);
    const rest = await alice.receiveAll(shellId, commandId);
    expect(rest.receives).toBeGreaterThanOrEqual(4);
    // Every stdout Stream of the first reply: a loaded machine may have put several chunks in it.
    const all = xpAll(first.text, '//rsp:Stream[@Name="stdout"]').map((t) => Buffer.from(t, 'base64').toString()).join('') + rest.stdout.toString();
    expect(all).toBe(Array.from({ length: 20 }, (_, i) => `${i + 1}\n`).join(''));
    expect(rest.exitCode).toBe(4);
    await alice.delete(shellId);
  });

  it('output larger than MaxEnvelopeSize is cut at once, not held back', async () => {
    const shellId = await alice.create();
    try {
      // The command outlives the test (vitest's testTimeout is 30 s): a reply that waited for its
      // end could never come back Running.
      const commandId = await alice.command(shellId, "head -c 300000 /dev/zero | tr '\\0' a; sleep 60");
      const r = await alice.receiveOnce(shellId, commandId, 'PT20S', 16384);
      expect(r.status).toBe(200);
      expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(16384);
      expect(xp(r.text, '//rsp:CommandState/@State')).toMatch(/Running$/);
      // Not a TimedOut fault or an empty reply: the part of the output that fitted.
      expect(Buffer.from(xp(r.text, '//rsp:Stream[@Name="stdout"]'), 'base64').toString()).toMatch(/^a+$/);
    } finally {
      await alice.delete(shellId);
    }
  });
});

describe('Send to a command that no longer reads (Ansible sends its module on stdin)', () => {
  let s: Server;
  let alice: ShellClient;
  beforeAll(async () => ({ s, alice } = await shellServer()));
  afterAll(() => s.server.close());

  // Ansible's winrm plugin sends the payload in Send chunks, the last with End="true"; it only
  // warns when one fails. winrmd drops input nobody reads, as a pipe does, and answers the Send.
  const payload = Buffer.alloc(300_000, 'x');

  it.each([
    ['exits at once', 'exit 0', 0],
    ['closed its stdin and runs on', 'exec 0<&-; sleep 0.3; exit 5', 5],
    ['left a background job holding its output', 'sleep 0.3 & exit 6', 6],
  ])('a command that %s: every Send succeeds, End included, and the exit code is still read', async (_what, line, exitCode) => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, line);
    for (const [data, end] of [[payload, false], [payload, false], [Buffer.alloc(0), true]] as const) {
      const r = await alice.request({ action: `${RSP}/Send`, selectors: { ShellId: shellId }, body: alice.sendBody(commandId, data, end) });
      expect({ status: r.status, subcode: xp(r.text, '//s:Subcode/s:Value') }).toEqual({ status: 200, subcode: '' });
    }
    expect((await alice.receiveAll(shellId, commandId)).exitCode).toBe(exitCode);
    await alice.delete(shellId);
  });

  it('after Done: data, then End="true", both accepted and dropped with a debug line', async () => {
    const shellId = await alice.create();
    const commandId = await alice.command(shellId, 'true');
    expect((await alice.receiveAll(shellId, commandId)).exitCode).toBe(0);
    await alice.send(shellId, commandId, 'late input');
    await alice.send(shellId, commandId, 'the rest', true);
    expect(s.logLines.some((l) => l.includes('"event":"stdin_dropped"') && l.includes(commandId))).toBe(true);
    expect(s.logLines.some((l) => l.includes('"level":50'))).toBe(false); // no error, no stack
    await alice.delete(shellId);
  });
});

describe('PowerShell remoting (PSRP) on a host without PowerShell', () => {
  let s: Server;
  let post: (xml: string) => Promise<Reply>;
  beforeAll(async () => ({ s, post } = await shellServer()));
  afterAll(() => s.server.close());

  /** One PSRP fragment (MS-PSRP 2.2.4): object id, fragment id, start|end, length, then the message (2.2.1). */
  function fragment(objectId: bigint, type: number, rpid: string, data: string): Buffer {
    const guid = (u: string) => Buffer.from(u.replace(/-/g, ''), 'hex');
    const message = Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.alloc(4), guid(rpid), Buffer.alloc(16), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(data)]);
    message.writeUInt32LE(type, 4);
    const head = Buffer.alloc(21);
    head.writeBigUInt64BE(objectId, 0);
    head.writeBigUInt64BE(0n, 8);
    head[16] = 3;
    head.writeUInt32BE(message.length, 17);
    return Buffer.concat([head, message]);
  }

  /**
   * pypsrp's RunspacePool.open (src/pypsrp/powershell.py, shell.py, wsman.py _create_header): an
   * `s:` envelope, headers in its order, the protocolversion option with MustComply in an OptionSet
   * marked mustUnderstand, and rsp:Shell with ShellId, `stdin pr`, `stdout` and creationXml
   * carrying SESSION_CAPABILITY and INIT_RUNSPACEPOOL.
   */
  function pypsrpCreate(resourceUri: string): string {
    const id = uuid();
    const creation = Buffer.concat([
      fragment(1n, 0x00010002, id, '<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>'),
      fragment(2n, 0x00010004, id, '<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">1</I32></MS></Obj>'),
    ]).toString('base64');
    return `<s:Envelope xmlns:s="${URI.soap}" xmlns:wsa="${URI.wsa}" xmlns:wsman="${URI.wsman}" xmlns:wsmv="${URI.wsmv}" xmlns:rsp="${RSP}"><s:Header>`
      + `<wsa:Action s:mustUnderstand="true">${URI.wxf}/Create</wsa:Action><wsmv:DataLocale s:mustUnderstand="false" xml:lang="en-US" />`
      + `<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" /><wsman:MaxEnvelopeSize s:mustUnderstand="true">153600</wsman:MaxEnvelopeSize>`
      + `<wsa:MessageID>uuid:${uuid()}</wsa:MessageID><wsman:OperationTimeout>PT20S</wsman:OperationTimeout>`
      + `<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>`
      + `<wsman:ResourceURI s:mustUnderstand="true">${resourceUri}</wsman:ResourceURI><wsmv:SessionId s:mustUnderstand="false">uuid:${uuid()}</wsmv:SessionId>`
      + `<wsa:To>http://server:5985/wsman</wsa:To><wsman:OptionSet s:mustUnderstand="true"><wsman:Option MustComply="true" Name="protocolversion">2.3</wsman:Option></wsman:OptionSet>`
      + `</s:Header><s:Body><rsp:Shell ShellId="${id}"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>`
      + `<creationXml xmlns="http://schemas.microsoft.com/powershell">${creation}</creationXml></rsp:Shell></s:Body></s:Envelope>`;
  }

  it.each([
    'http://schemas.microsoft.com/powershell/Microsoft.PowerShell',
    'http://schemas.microsoft.com/powershell/microsoft.powershell32',
    'http://schemas.microsoft.com/powershell/PowerShell.7',
  ])('a pypsrp-shaped Create on %s: DestinationUnreachable, 2150858752, a text that says why, in HTTP 500', async (resourceUri) => {
    const r = await post(pypsrpCreate(resourceUri));
    expect(r.status).toBe(500);
    expect(xp(r.text, '//s:Code/s:Value')).toBe('s:Sender');
    expect(xp(r.text, '//s:Subcode/s:Value')).toBe('a:DestinationUnreachable');
    expect(xp(r.text, '//f:WSManFault/@Code')).toBe('2150858752');
    // pypsrp reports f:Message; PowerShell and pywinrm the same text.
    const message = xp(r.text, '//f:WSManFault/f:Message');
    expect(message).toContain(`The resource URI (${resourceUri}) was not found`);
    expect(message).toMatch(/no PowerShell engine, so PowerShell remoting \(PSRP.*\) cannot run here/);
    expect(s.logLines.some((l) => l.includes('"event":"psrp_refused"'))).toBe(true);
    expect(s.logLines.some((l) => l.includes('"level":50'))).toBe(false);
  });

  it('the other operations on it (Receive, Delete) get the same fault, never InternalError', async () => {
    for (const action of [`${RSP}/Receive`, `${URI.wxf}/Delete`]) {
      const r = await post(pypsrpCreate('http://schemas.microsoft.com/powershell/Microsoft.PowerShell').replace(`${URI.wxf}/Create`, action));
      expect({ status: r.status, subcode: xp(r.text, '//s:Subcode/s:Value'), code: xp(r.text, '//f:WSManFault/@Code') }).toEqual({ status: 500, subcode: 'a:DestinationUnreachable', code: '2150858752' });
      expect(xp(r.text, '//f:WSManFault/f:Message')).toMatch(/no PowerShell engine/);
    }
  });
});
