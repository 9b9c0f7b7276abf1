// Output held for Receive, bounded per user and for the whole server (issue 12: 750 commands
// nobody Receives once held 843 MB). Each command's own bound (shell.outputBufferKb) still
// applies; these add that no one user, and not all users together, may hold more than their
// budget. A command whose budget is spent stops reading its pipes, as at its own bound, until a
// Receive somewhere frees room: its processes block on write, and nothing is lost.

/** What a paused command does when room comes back. */
export interface Resumable {
  resume(): void;
}

export class OutputBudget {
  private held = 0;
  private readonly paused = new Set<Resumable>();

  constructor(readonly limitBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  get spent(): boolean {
    return this.held >= this.limitBytes;
  }

  charge(bytes: number): void {
    this.held += bytes;
  }

  /** Room comes back: once under half the bound, every command paused on it may read again. */
  release(bytes: number): void {
    this.held -= bytes;
    if (this.paused.size > 0 && this.held <= this.limitBytes / 2) {
      const waiting = [...this.paused];
      this.paused.clear();
      for (const w of waiting) w.resume();
    }
  }

  waitFor(w: Resumable): void {
    this.paused.add(w);
  }

  forget(w: Resumable): void {
    this.paused.delete(w);
  }
}

/** One budget per user with output held, and one for all of them. */
export class OutputBudgets {
  private readonly perUser = new Map<string, OutputBudget>();
  readonly total: OutputBudget;

  constructor(private readonly perUserBytes: number, totalBytes: number) {
    this.total = new OutputBudget(totalBytes);
  }

  /** The budgets a command of `user` charges: the user's, then the server's. */
  of(user: string): OutputBudget[] {
    let mine = this.perUser.get(user);
    if (!mine) this.perUser.set(user, (mine = new OutputBudget(this.perUserBytes)));
    return [mine, this.total];
  }

}
