// A loopback BMC for tests: OpenIPMI's ipmi_sim started from test/fixtures/ipmi-sim with a fresh
// state folder, its console for changing readings at run time, and ipmitool pointed at it.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/ipmi-sim');
const fixtureDir = () => (spawnSync('test', ['-d', FIXTURE]).status === 0 ? FIXTURE : path.resolve('test/fixtures/ipmi-sim'));

export interface IpmiSim {
  port: number;
  consolePort: number;
  stateDir: string;
  /** ipmitool against this BMC (admin, cipher suite 3): its stdout. */
  ipmitool(...args: string[]): Promise<string>;
  /** One ipmi_sim console command, e.g. `sensor_set_value 0x20 0 1 90 1`. */
  console(command: string): Promise<void>;
  /** The chassis power state the simulator's control hook keeps: true when on. */
  powerOn(): boolean;
  /** Kills the simulator and starts a fresh one on the same ports: every session is gone. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

let nextPort = 20000 + (process.pid % 200) * 40;

/** Starts a simulator on free-looking ports; call stop() in afterAll. */
export async function startIpmiSim(): Promise<IpmiSim> {
  const port = nextPort;
  const consolePort = nextPort + 1;
  nextPort += 2;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-ipmisim-'));
  const dir = fixtureDir();
  const start = async () => {
    const { stdout } = await execFileP('sh', [path.join(dir, 'start.sh'), path.join(stateDir, 's'), String(port), String(consolePort)]);
    return Number(stdout.trim().split('\n').pop());
  };
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let pid = await start();
  const ipmitool = async (...args: string[]) =>
    (await execFileP('ipmitool', ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(port), '-U', 'admin', '-P', 'password', '-C', '3', ...args])).stdout;
  return {
    port,
    consolePort,
    stateDir: path.join(stateDir, 's'),
    ipmitool,
    console: (command) => sendConsole(consolePort, command),
    powerOn: () => readFileSync(path.join(stateDir, 's', 'power.state'), 'utf8').trim() === '1',
    async restart() {
      kill();
      await new Promise((r) => setTimeout(r, 100)); // the UDP port is free once the process is gone
      pid = await start();
    },
    async stop() {
      kill();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Writes one command to the console and waits until the simulator has read it. */
function sendConsole(port: number, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let seen = '';
    sock.setTimeout(3000, () => { sock.destroy(); reject(new Error(`ipmi_sim console did not answer ${command}`)); });
    sock.on('error', reject);
    sock.on('connect', () => sock.write(`${command}\n`));
    // The console answers every line with a prompt; the second prompt means the command ran.
    sock.on('data', (d) => {
      seen += d.toString('latin1');
      if ((seen.match(/>/g) ?? []).length >= 2) {
        sock.end();
        resolve();
      }
    });
  });
}
