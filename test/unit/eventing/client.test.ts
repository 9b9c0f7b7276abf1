// Where winrmd's outbound client may go: isUnder decides it for every delivery target.
import { describe, expect, it } from 'vitest';
import { isUnder } from '../../../src/eventing/client.js';

describe('isUnder (eventing.deliveryTargets)', () => {
  const allowed = 'https://collector.example.com:5986/wsman/subscriptions';
  it.each([
    ['https://collector.example.com:5986/wsman/subscriptions', true],
    ['https://collector.example.com:5986/wsman/subscriptions/0b3c', true],
    ['https://COLLECTOR.example.com:5986/wsman/subscriptions/x', true], // a host is case-insensitive
    ['https://collector.example.com:5986/wsman/subscriptionsEVIL', false], // not past a segment boundary
    ['https://collector.example.com:5986/wsman/subscriptions/../admin', false], // normalised to /wsman/admin
    ['https://collector.example.com:5986/wsman/subscriptions/%2F..%2Fadmin', false],
    ['https://collector.example.com:5986/wsman/subscriptions/a%5Cb', false],
    ['https://collector.example.com:5986/wsman/subscriptions;x', false],
    ['https://user:pw@collector.example.com:5986/wsman/subscriptions/x', false],
    ['http://collector.example.com:5986/wsman/subscriptions/x', false], // another scheme
    ['https://collector.example.com:5987/wsman/subscriptions/x', false], // another port
    ['https://collector.example.com.evil.test:5986/wsman/subscriptions/x', false],
    ['file:///etc/passwd', false],
    ['not a url', false],
  ])('%s → %s', (address, ok) => {
    expect(isUnder(address, allowed)).toBe(ok);
  });
});
