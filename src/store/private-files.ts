// Files that hold secrets: the state database (NT hashes) and the generated TLS key.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * The state folder and what it holds (NT hashes, as good as passwords for NTLM; the TLS key): readable by this
 * account alone, on every start, whoever made them and however (an existing 0755 folder, a 0644
 * file). Where that cannot be enforced winrmd refuses to start rather than serve with them exposed.
 */
export function keepPrivate(dir: string, files: string[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const enforce = (p: string, mode: number) => {
    try {
      chmodSync(p, mode);
    } catch (err) {
      throw new Error(`${p} holds secrets and must be mode ${mode.toString(8)}, but it cannot be changed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const now = statSync(p).mode & 0o777;
    if (now !== mode) throw new Error(`${p} holds secrets and must be mode ${mode.toString(8)}, but it stays ${now.toString(8)}`);
  };
  enforce(dir, 0o700);
  for (const f of files) {
    if (!existsSync(f)) closeSync(openSync(f, 'a', 0o600));
    enforce(f, 0o600);
  }
}
