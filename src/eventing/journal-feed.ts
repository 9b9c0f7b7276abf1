// The journal as a feed for subscriptions to the EventLog resource (MS-WSMV 3.1.4.1.30, the
// eventquery dialect): entries selected by a QueryList, rendered as Windows events, each with the
// bookmark that resumes after it (the journal cursor, in the BookmarkList a collector stores and
// offers back as it is, DSP0226 §10.2.6).
//
// Many subscriptions read one journal: the hub reads what is new once per interval for all of
// them (one journalctl, not one per subscription) and keeps the recent entries, so a subscription
// that is caught up reads from memory; one that starts from an older bookmark reads the journal
// itself until it has caught up.
import { EVENTING } from '../soap/names.js';
import { children, el, parseXml, serialize } from '../soap/xml.js';
import { matches, type EventQuery } from './event-query.js';
import type { Feed, FeedEvent } from './feed.js';
import { journalEventXml, journalFacts, readJournal, type JournalEntry, type JournalSource } from './journal.js';

/** Our bookmark: one journal cursor. */
export const bookmarkXml = (cursor: string): string => serialize(el('', 'BookmarkList', {}, el('', 'Bookmark', { Channel: 'journal', Cursor: cursor, IsCurrent: 'true' })));

/** Where a bookmark says to start: after a cursor, from the first entry (`earliest`), or undefined when it is none of ours. */
export function cursorOf(bookmark: string): { cursor: string } | 'earliest' | undefined {
  if (bookmark.trim() === EVENTING.bookmarkEarliest) return 'earliest';
  try {
    const cursor = children(parseXml(bookmark, { maxDepth: 8, maxAttributes: 16 }), '', 'Bookmark').find((b) => b.attrs.Cursor)?.attrs.Cursor;
    return cursor ? { cursor } : undefined;
  } catch {
    return undefined;
  }
}

const cursorOfEntry = (e: JournalEntry) => String(e.__CURSOR);

export class JournalHub {
  /** Recent entries, oldest first, and the cursor of the newest entry known. */
  private recent: JournalEntry[] = [];
  private tail: string | undefined;
  private refreshedAt = 0;
  private refreshing?: Promise<void>;

  constructor(
    readonly source: JournalSource,
    readonly intervalMs = 1000,
    private readonly keep = 10_000,
  ) {}

  /** The newest entry's cursor now (where a subscription without a bookmark starts); throws JournalError when no journal is readable. */
  async now(): Promise<string | undefined> {
    await this.refresh(true);
    return this.tail;
  }

  /** Whether the hub can answer for this cursor from memory (the newest entry, or one it keeps). */
  knows(cursor: string): boolean {
    return cursor === this.tail || this.recent.some((e) => cursorOfEntry(e) === cursor);
  }

  /** The newest entry's cursor as last read. */
  get newest(): string | undefined {
    return this.tail;
  }

  /** Entries after `cursor` (from the first without one), oldest first, at most `limit`. */
  async after(cursor: string | undefined, limit: number): Promise<JournalEntry[]> {
    await this.refresh(false);
    if (cursor !== undefined && cursor === this.tail) return [];
    const at = cursor === undefined ? -1 : this.recent.findIndex((e) => cursorOfEntry(e) === cursor);
    if (at >= 0) return this.recent.slice(at + 1, at + 1 + limit);
    return readJournal(this.source, { afterCursor: cursor, limit });
  }

  /** Read what is new, at most once per interval (or now, when `force`), shared by every caller. */
  private refresh(force: boolean): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (!force && Date.now() - this.refreshedAt < this.intervalMs / 2) return Promise.resolve();
    this.refreshing = (async () => {
      try {
        const fresh = this.refreshedAt === 0
          ? await readJournal(this.source, { limit: 1, newest: true })
          : await readJournal(this.source, { afterCursor: this.tail, limit: 5000 });
        if (fresh.length > 0) {
          // The first read gives only the newest entry: the start of the window.
          this.recent = this.refreshedAt === 0 ? fresh : this.recent.concat(fresh);
          if (this.recent.length > this.keep) this.recent = this.recent.slice(-this.keep);
          this.tail = cursorOfEntry(fresh.at(-1)!);
        }
        this.refreshedAt = Date.now();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}

export interface JournalFeedOptions {
  query: EventQuery;
  /** Start after this cursor; undefined: from the journal's first entry. */
  after: string | undefined;
  rendered: boolean;
  culture?: string;
}

export function journalFeed(hub: JournalHub, o: JournalFeedOptions): Feed {
  let cursor = o.after;
  return {
    intervalMs: hub.intervalMs,
    async poll(): Promise<FeedEvent[]> {
      const entries = await hub.after(cursor, 1000);
      if (entries.length === 0) {
        // Nothing after a cursor the hub does not hold (one from a bookmark that names no entry
        // of this journal, or past its end): start from the journal's end, so that this feed
        // reads from memory like the others instead of running journalctl every poll.
        if (cursor !== undefined && !hub.knows(cursor) && hub.newest !== undefined) cursor = hub.newest;
        return [];
      }
      cursor = cursorOfEntry(entries.at(-1)!);
      const now = Date.now();
      return entries
        .filter((e) => matches(o.query, journalFacts(e), now))
        .map((e) => ({ xml: journalEventXml(e, { rendered: o.rendered, culture: o.culture }), bookmark: bookmarkXml(cursorOfEntry(e)) }));
    },
  };
}
