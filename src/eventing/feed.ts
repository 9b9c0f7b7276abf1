// What a WS-Eventing subscription to winrmd reads (DSP0226 §10): a feed of events in XML, polled.
// The journal (EventLog resource), instance events over any provider's class (WQL
// __Instance*Event), and the BMCs' SEL and sensors are feeds; the subscription (source.ts) polls
// its feed, keeps what is not yet delivered, and delivers it in the subscription's mode.

export interface FeedEvent {
  /** The event as one XML element, as it goes inside w:Event or n:Items. */
  xml: string;
  /** For feeds that can resume: the bookmark after this event (a BookmarkList, DSP0226 §10.2.6). */
  bookmark?: string;
}

export interface Feed {
  /** How often the subscription polls. */
  readonly intervalMs: number;
  /** What happened since the previous poll, oldest first (the first poll sets the baseline). */
  poll(): Promise<FeedEvent[]>;
  /** Stop and free what the feed holds. */
  close?(): void;
}
