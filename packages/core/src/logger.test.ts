import { Console } from 'node:console';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LogWriter, type GuardLogger } from './logger.js';

type Call = [string, ...unknown[]];

/** A logger recording every call as [method, ...arguments]. */
function recording(methods: readonly ('info' | 'warn' | 'error')[] = ['info', 'warn', 'error']) {
  const calls: Call[] = [];
  const logger = Object.fromEntries(
    methods.map((method) => [method, (...args: unknown[]) => calls.push([method, ...args])]),
  ) as unknown as GuardLogger;
  return { logger, calls };
}

describe('LogWriter', () => {
  it('hands a structured logger the record and the message, at the level asked', () => {
    const { logger, calls } = recording();
    const log = new LogWriter(logger, 'auto');
    log.write('info', { a: 1 }, 'm1');
    log.write('warn', { b: 2 }, 'm2');
    log.write('error', { c: 3 }, 'm3');
    expect(calls).toEqual([
      ['info', { a: 1 }, 'm1'],
      ['warn', { b: 2 }, 'm2'],
      ['error', { c: 3 }, 'm3'],
    ]);
    expect(log.json).toBe(false);
  });

  it('falls back to the next lower level a logger lacks', () => {
    const infoOnly = recording(['info']);
    new LogWriter(infoOnly.logger, 'object').write('error', {}, 'x');
    new LogWriter(infoOnly.logger, 'object').write('warn', {}, 'y');
    expect(infoOnly.calls.map((call) => call[0])).toEqual(['info', 'info']);
    const noError = recording(['info', 'warn']);
    new LogWriter(noError.logger, 'object').write('error', {}, 'z');
    expect(noError.calls.map((call) => call[0])).toEqual(['warn']);
  });

  it('writes one JSON string per line in the json format: level and message first, then the fields', () => {
    const { logger, calls } = recording();
    const log = new LogWriter(logger, 'json');
    log.write('warn', { route: 'chat', status: 529, skipped: undefined }, 'claude-guard request');
    expect(calls).toEqual([['warn', '{"level":"warn","msg":"claude-guard request","route":"chat","status":529}']]);
  });

  it('writes errors in a JSON line as their name, message and stack', () => {
    const { logger, calls } = recording();
    const error = new TypeError('boom');
    new LogWriter(logger, 'json').write('error', { err: error }, 'failed');
    expect(JSON.parse(calls[0]![1] as string)).toEqual({
      level: 'error',
      msg: 'failed',
      err: { type: 'TypeError', message: 'boom', stack: error.stack },
    });
  });

  it('still writes a line when the record cannot be JSON', () => {
    const { logger, calls } = recording();
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    new LogWriter(logger, 'json').write('info', cycle, 'm');
    expect(JSON.parse(calls[0]![1] as string)).toEqual({
      level: 'info',
      msg: 'm',
      logError: 'the record could not be written as JSON',
    });
  });

  it('picks json for consoles in the auto format: the global one, a node:console Console, a console-shaped object', () => {
    expect(new LogWriter(console, 'auto').json).toBe(true);
    const stream = new PassThrough();
    expect(new LogWriter(new Console({ stdout: stream }), 'auto').json).toBe(true);
    const shaped = { info() {}, table() {}, dir() {}, group() {} };
    expect(new LogWriter(shaped, 'auto').json).toBe(true);
    expect(new LogWriter(console, 'object').json).toBe(false);
  });

  it('prints one line per write to a console', () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: string[] = [];
    const err: string[] = [];
    stdout.on('data', (chunk: Buffer) => out.push(chunk.toString()));
    stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
    const log = new LogWriter(new Console({ stdout, stderr }), 'auto');
    log.write('info', { route: 'chat', nested: { deep: { deeper: { deepest: [1, 2, 3] } } } }, 'ok');
    log.write('error', { route: 'chat' }, 'bad');
    expect(out.join('').split('\n')).toEqual([
      '{"level":"info","msg":"ok","route":"chat","nested":{"deep":{"deeper":{"deepest":[1,2,3]}}}}',
      '',
    ]);
    expect(err.join('')).toBe('{"level":"error","msg":"bad","route":"chat"}\n');
  });

  it('never throws when the logger does', () => {
    const log = new LogWriter(
      {
        info: () => {
          throw new Error('sink down');
        },
      },
      'object',
    );
    expect(() => log.write('info', {}, 'm')).not.toThrow();
    expect(() => log.forRequest('r', 'id').error({}, 'm')).not.toThrow();
  });

  describe('forRequest', () => {
    it("is the logger's child for the request when it has child() and every level", () => {
      const bound: Record<string, unknown>[] = [];
      const child = recording();
      const logger: GuardLogger = {
        info: () => {},
        child: (bindings) => {
          bound.push(bindings);
          return child.logger;
        },
      };
      const log = new LogWriter(logger, 'auto').forRequest('chat', 'cg_1');
      expect(bound).toEqual([{ route: 'chat', requestId: 'cg_1' }]);
      expect(log).toBe(child.logger);
    });

    it('fills in the levels a child lacks', () => {
      const child = recording(['info']);
      const log = new LogWriter({ info: () => {}, child: () => child.logger }, 'object').forRequest('chat', 'cg_1');
      log.error({ e: 1 }, 'x');
      expect(child.calls).toEqual([['info', { e: 1 }, 'x']]);
    });

    it('adds route and requestId to each line of a logger without child()', () => {
      const { logger, calls } = recording();
      const log = new LogWriter(logger, 'object').forRequest('chat', 'cg_1');
      log.warn({ userId: 7 }, 'quota near');
      expect(calls).toEqual([['warn', { route: 'chat', requestId: 'cg_1', userId: 7 }, 'quota near']]);
    });

    it('writes JSON lines with both fields in the json format, even when the logger has child()', () => {
      const { logger, calls } = recording();
      const withChild = Object.assign(logger, { child: () => logger });
      new LogWriter(withChild, 'json').forRequest('chat', 'cg_1').info({ n: 1 }, 'saved');
      expect(calls).toEqual([['info', '{"level":"info","msg":"saved","route":"chat","requestId":"cg_1","n":1}']]);
    });

    it("falls back to adding the fields when the logger's child() throws", () => {
      const { logger, calls } = recording();
      const failing = Object.assign(logger, {
        child: () => {
          throw new Error('no child');
        },
      });
      new LogWriter(failing, 'object').forRequest('chat', 'cg_1').info({}, 'm');
      expect(calls).toEqual([['info', { route: 'chat', requestId: 'cg_1' }, 'm']]);
    });
  });
});
