// The container image cannot be built here (no Docker engine): test what goes into it instead —
// the entrypoint, run against this checkout's build, and the Dockerfile's references.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

function entrypoint(args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn('sh', [path.join(root, 'docker/entrypoint.sh'), ...args], { env: { ...process.env, WINRMD_APP: root, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

describe('docker/', () => {
  const state = mkdtempSync(path.join(os.tmpdir(), 'winrmd-docker-'));
  const secret = path.join(state, 'alice.secret');
  writeFileSync(secret, 'from-a-secret-file\n', { mode: 0o600 });

  it('the entrypoint seeds a user from a password file, then runs the command', async () => {
    expect(existsSync(path.join(root, 'dist/src/main.js')), 'npm test builds dist/ first').toBe(true);
    const r = await entrypoint(['user', 'list'], { WINRMD_USER: 'alice', WINRMD_PASSWORD_FILE: secret, WINRMD_STATE_DIR: state, WINRMD_ROLE: 'viewer' });
    expect(r.code).toBe(0);
    expect(r.out).toContain('user alice saved (runs as nobody; roles viewer)');
    expect(r.out).toContain('alice\trunAs=nobody\troles=viewer');
    expect(r.out).not.toContain('from-a-secret-file');
  });

  it('refuses a user without a password file', async () => {
    const r = await entrypoint(['user', 'list'], { WINRMD_USER: 'bob', WINRMD_STATE_DIR: state });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/WINRMD_PASSWORD_FILE/);
  });

  it('lab: the entrypoint serves the lab file WINRMD_LAB names, lab ctl reaches it, and WINRMD_USER is refused', async () => {
    const refused = await entrypoint(['lab'], { WINRMD_USER: 'alice', WINRMD_PASSWORD_FILE: secret });
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/a lab's users are in its lab file/);
    const labFile = path.join(state, 'lab.yaml');
    const bundled = readFileSync(path.join(root, 'config/lab.yaml'), 'utf8');
    writeFileSync(labFile, bundled.replace(/port: 5985/g, 'port: 0').replace(/address: 127\.0\.10\./g, 'address: 127.0.38.').replace(/^stateDir: .*$/m, `stateDir: ${path.join(state, 'lab-state')}`));
    const lab = spawn('sh', [path.join(root, 'docker/entrypoint.sh'), 'lab'], { env: { ...process.env, WINRMD_APP: root, WINRMD_LAB: labFile } });
    try {
      let out = '';
      lab.stdout.on('data', (d) => (out += d));
      lab.stderr.on('data', (d) => (out += d));
      for (const deadline = Date.now() + 20_000; !out.includes('dc01') && Date.now() < deadline && lab.exitCode === null;) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/^web01\t127\.0\.38\.1:\d+\tserver2022$/m);
      const ctl = await entrypoint(['lab', 'ctl', 'list'], { WINRMD_LAB: labFile });
      expect(ctl.code).toBe(0);
      expect(ctl.out).toMatch(/dc01/);
      // The image's health check, pointed at one of the lab's hosts.
      const port = /^web01\t127\.0\.38\.1:(\d+)/m.exec(out)![1];
      expect((await fetch(`http://127.0.38.1:${port}/healthz`)).status).toBe(200);
    } finally {
      lab.kill('SIGTERM');
      await new Promise((r) => lab.once('exit', r));
    }
  }, 60_000);

  it('the Dockerfile copies only what exists and installs what the providers need', () => {
    const dockerfile = readFileSync(path.join(root, 'docker/Dockerfile'), 'utf8');
    for (const [, src] of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) {
      for (const p of src.split(' ')) expect(existsSync(path.join(root, p)), p).toBe(true);
    }
    expect(dockerfile).toMatch(/procps/); // ps, for Win32_Process
    expect(dockerfile).toMatch(/install[^\n]*ipmitool/); // the IPMI provider's ipmitool transport
    expect(dockerfile).toMatch(/WINRMD_SERVICE__ALLOW_UNENCRYPTED=false/);
    expect(dockerfile).toMatch(/MALLOC_ARENA_MAX=2/);
    expect(dockerfile).toMatch(/ENTRYPOINT \["tini", "--", "winrmd-entrypoint"\]/);
    expect(dockerfile).toMatch(/HEALTHCHECK .*process\.env\.WINRMD_HEALTHZ\|\|'http:\/\/127\.0\.0\.1:5985\/healthz'/);
  });

  it('the image, CI and the README install exactly the lock file (npm ci), never re-resolving it', () => {
    const dockerfile = readFileSync(path.join(root, 'docker/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).not.toMatch(/npm install/);
    expect(readFileSync(path.join(root, '.ci/run'), 'utf8')).toMatch(/^npm ci && npm test$/m);
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    expect(readme).toMatch(/^npm ci && npm start/m);
    expect(readme).toMatch(/^npm ci && npm test/m);
    // npm ci refuses a lock file that does not match package.json: the lock names every dependency.
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
    for (const name of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]) {
      expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
    }
    expect(lock.packages['']).toMatchObject({ dependencies: pkg.dependencies ?? {}, devDependencies: pkg.devDependencies ?? {} });
  });
});
