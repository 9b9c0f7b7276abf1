// Event queries as forwarding subscriptions write them (MS-WSMV 2.2.4.24), judged on events.
import { describe, expect, it } from 'vitest';
import { compileQuery, EventQueryError, matches, type QueryableEvent } from '../../../src/eventing/event-query.js';
import { simpleQuery } from '../../../src/eventing/subscription.js';

const now = Date.parse('2026-12-07T12:00:00Z');
const event = (o: Partial<QueryableEvent> = {}): QueryableEvent => ({ channel: 'Security', level: 4, eventId: 4624, provider: 'sshd', timeCreated: now - 1000, ...o });

describe('event queries', () => {
  it('the simple form: channels, levels and ids', () => {
    const q = compileQuery(simpleQuery(['Security', 'System'], [1, 2, 3], [4624, 4625]));
    expect(q.channels).toEqual(['Security', 'System']);
    expect(matches(q, event({ level: 2 }), now)).toBe(true);
    expect(matches(q, event({ level: 4 }), now)).toBe(false);
    expect(matches(q, event({ level: 2, eventId: 1 }), now)).toBe(false);
    expect(matches(q, event({ level: 2, channel: 'Application' }), now)).toBe(false);
  });

  it('Provider names, time windows, != and parentheses, and Suppress', () => {
    const q = compileQuery(`<QueryList><Query Id="0" Path="System">
      <Select>*[System[(Provider[@Name='kernel'] or Provider[@Name="sshd"]) and TimeCreated[timediff(@SystemTime) &lt;= 86400000] and EventID != 7]]</Select>
      <Suppress Path="System">*[System[Level=5]]</Suppress>
    </Query></QueryList>`);
    expect(matches(q, event({ channel: 'System', provider: 'KERNEL' }), now)).toBe(true);
    expect(matches(q, event({ channel: 'system', provider: 'sshd' }), now)).toBe(true);
    expect(matches(q, event({ channel: 'System', provider: 'cron' }), now)).toBe(false);
    expect(matches(q, event({ channel: 'System', provider: 'sshd', eventId: 7 }), now)).toBe(false);
    expect(matches(q, event({ channel: 'System', provider: 'sshd', timeCreated: now - 2 * 86400000 }), now)).toBe(false);
    expect(matches(q, event({ channel: 'System', provider: 'sshd', level: 5 }), now)).toBe(false);
    expect(matches(compileQuery('<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>'), event({ channel: 'Application' }), now)).toBe(true);
  });

  it.each([
    ['an XPath into EventData', '*[EventData[Data[@Name="x"]="y"]]', /only System/],
    ['a field it does not know', '*[System[Computer=1]]', /Computer cannot be filtered on/],
    ['an unclosed bracket', '*[System[Level=1]', /expected \]/],
    ['garbage', '*[System[Level=1]] junk', /unexpected "junk"/],
    ['a string where a number belongs', "*[System[Level='x']]", /compares with a number/],
  ])('refuses %s, saying what', (_, xpath, message) => {
    expect(() => compileQuery(`<QueryList><Query Id="0"><Select Path="System">${xpath}</Select></Query></QueryList>`)).toThrow(message);
    expect(() => compileQuery(`<QueryList><Query Id="0"><Select Path="System">${xpath}</Select></Query></QueryList>`)).toThrow(EventQueryError);
  });
});
