// The file output as logrotate meets it: lines appended and fsynced in groups, files reopened by
// name on SIGHUP (reopen), and a line cut short by a crash cut off when the file is next opened.
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandPath, FileAppender, type Batch } from '../../../src/eventing/outputs.js';

describe('FileAppender', () => {
  it('after a rotation and reopen, new lines go to a new file of the same name; the moved file keeps its lines', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-rotate-'));
    const file = path.join(dir, 'sub', 'events.jsonl');
    const files = new FileAppender();
    await Promise.all([files.append(file, 'a\n'), files.append(file, 'b\n'), files.append(file, 'c\n')]);
    renameSync(file, `${file}.1`);
    await files.append(file, 'd\n'); // before the SIGHUP: still the moved file, as logrotate expects
    await files.reopen();
    await files.append(file, 'e\n');
    await files.reopen();
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('a\nb\nc\nd\n');
    expect(readFileSync(file, 'utf8')).toBe('e\n');
  });

  it('a line cut short at the end of a file (a crash mid-write) is cut off before the next line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'winrmd-torn-'));
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, '{"whole":1}\n{"whole":2}\n{"cut sh');
    const files = new FileAppender();
    await files.append(file, '{"next":3}\n');
    await files.reopen();
    expect(readFileSync(file, 'utf8')).toBe('{"whole":1}\n{"whole":2}\n{"next":3}\n');
    // A file with no newline at all is all torn.
    writeFileSync(file, 'x'.repeat(100_000));
    const again = new FileAppender();
    await again.append(file, 'y\n');
    await again.reopen();
    expect(readFileSync(file, 'utf8')).toBe('y\n');
  });

  it('a template cannot be climbed out of by a source name', () => {
    const batch = { subscription: { name: 'sub/../x' }, origin: { source: '../../etc/passwd', receivedAt: '2026-12-07T10:00:00.000Z' } } as unknown as Batch;
    expect(expandPath('/var/log/w/{subscription}/{source}-{date}.jsonl', batch)).toBe('/var/log/w/sub_.._x/__.._etc_passwd-2026-12-07.jsonl');
  });
});
