import { describe, expect, it } from 'vitest';
import { UpstreamEventQueue, EVENT_QUEUE_LIMITS } from './upstream-event-queue.js';
import { MalformedStreamError } from './upstream-errors.js';

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const event = (name: string, data = '{}') => `event: ${name}\ndata: ${data}\n\n`;

function drain(queue: UpstreamEventQueue): (string | undefined)[] {
  const names: (string | undefined)[] = [];
  // Bounded: a queue never yields more events than were fed.
  for (let i = 0; i <= 1_000_000; i++) {
    const next = queue.next();
    if (!next) return names;
    names.push(next.event);
  }
  throw new Error('the queue never ran dry');
}

describe('UpstreamEventQueue', () => {
  it('parses a chunk only as far as its bound: by count', () => {
    const queue = new UpstreamEventQueue(1024, { maxEvents: 3, maxChars: 1_000_000 });
    queue.add(bytes(event('a').repeat(10)));

    queue.fill();
    expect(queue.size).toBe(3);
    expect(queue.needsBytes).toBe(false);
    expect(drain(queue)).toHaveLength(10);
    expect(queue.needsBytes).toBe(true);
  });

  it('parses a chunk only as far as its bound: by characters, one event past it at most', () => {
    const queue = new UpstreamEventQueue(1024, { maxEvents: 1_000, maxChars: 100 });
    queue.add(bytes(event('delta', 'x'.repeat(60)).repeat(20)));

    queue.fill();
    // 65 characters each: the second one reaches 100, and parsing stops there.
    expect(queue.size).toBe(2);
    expect(queue.next()?.event).toBe('delta');
    queue.fill();
    expect(queue.size).toBe(2);
  });

  it('with the default bounds, a chunk of 100 000 pings is held as bytes, never as 100 000 events', () => {
    const queue = new UpstreamEventQueue(1024);
    queue.add(bytes(event('ping', '{"type": "ping"}').repeat(100_000)));

    queue.fill();
    expect(queue.size).toBe(EVENT_QUEUE_LIMITS.maxEvents);
    expect(drain(queue)).toHaveLength(100_000);
  });

  it('never keeps events with no name', () => {
    const queue = new UpstreamEventQueue(1024);
    queue.add(bytes('data: {"a":1}\n\n'.repeat(50) + event('message_start')));

    expect(drain(queue)).toEqual(['message_start']);
  });

  it('parses nothing after message_stop: the stream is complete', () => {
    const queue = new UpstreamEventQueue(1024);
    queue.add(bytes(event('content_block_delta') + event('message_stop') + event('error') + 'garbage'));

    expect(drain(queue)).toEqual(['content_block_delta', 'message_stop']);
    expect(queue.complete).toBe(true);
    expect(queue.needsBytes).toBe(false);
    queue.add(bytes(event('error')));
    expect(queue.next()).toBeUndefined();
  });

  it('joins events split across chunks', () => {
    const queue = new UpstreamEventQueue(1024);
    const whole = event('message_start', '{"type":"message_start"}');
    queue.add(bytes(whole.slice(0, 10)));
    expect(queue.next()).toBeUndefined();
    expect(queue.needsBytes).toBe(true);
    queue.add(bytes(whole.slice(10)));
    expect(queue.next()).toEqual({ event: 'message_start', data: '{"type":"message_start"}' });
  });

  it('refuses a second chunk while the first is not parsed', () => {
    const queue = new UpstreamEventQueue(1024, { maxEvents: 1, maxChars: 1_000 });
    queue.add(bytes(event('a') + event('b')));
    queue.fill();
    expect(() => queue.add(bytes(event('c')))).toThrow('not parsed yet');
  });

  it('an event larger than maxEventBytes is a MalformedStreamError that says so', () => {
    const queue = new UpstreamEventQueue(64);
    queue.add(bytes(event('content_block_delta', 'x'.repeat(100))));

    let caught: unknown;
    try {
      queue.next();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MalformedStreamError);
    expect((caught as MalformedStreamError).problem).toBe('an event larger than 64 bytes');
  });

  it('find() looks at parsed events only', () => {
    const queue = new UpstreamEventQueue(1024, { maxEvents: 2, maxChars: 1_000 });
    queue.add(bytes(event('a') + event('b') + event('error')));
    queue.fill();

    expect(queue.find((e) => e.event === 'error')).toBeUndefined();
    expect(queue.peek()?.event).toBe('a');
  });
});
