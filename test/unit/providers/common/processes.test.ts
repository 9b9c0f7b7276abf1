// providers/common/processes.ts: sweeping what a command's session left, over the whole host or
// only over the processes a shell's cgroup lists (the pass over every /proc entry once cost a
// shell round trip 13 ms and grew with the host's process count).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sweepSessions } from '../../../../providers/common/processes.js';
import { eventually, processesWith } from '../../../helpers/shell-client.js';

describe('sweepSessions', () => {
  it('kills the session\'s processes among those given, and only those; without a list, all of them', async () => {
    // A session leader (setsid) that starts two sleeps and then exits, as a finished command does.
    const leader = spawn('/bin/sh', ['-c', 'sleep 326 & sleep 326 & exit 0'], { detached: true, stdio: 'ignore' });
    await new Promise((resolve) => leader.once('exit', resolve));
    const sleeps = await eventually(() => processesWith('sleep 326'), (p) => p.length === 2);
    expect(sleeps).toHaveLength(2);
    await sweepSessions(new Set([leader.pid!]), [sleeps[0]!]);
    expect(await eventually(() => processesWith('sleep 326'), (p) => p.length === 1)).toEqual([sleeps[1]]);
    await sweepSessions(new Set([leader.pid!]));
    expect(await eventually(() => processesWith('sleep 326'), (p) => p.length === 0)).toEqual([]);
  });
});
