import { describe, expect, it } from 'vitest';
import { borrowController, keepSignal, releaseController } from './signal-pool.js';

const noop = () => {};

describe('signal pool', () => {
  it('lends a clean controller again once it is given back', () => {
    const controller = borrowController();
    expect(controller.signal.aborted).toBe(false);
    releaseController(controller);
    expect(borrowController()).toBe(controller);
  });

  it('never lends again a controller that was aborted', () => {
    const controller = borrowController();
    controller.abort(new Error('deadline'));
    releaseController(controller);
    expect(borrowController()).not.toBe(controller);
  });

  it('never lends again a controller whose signal is still listened to', () => {
    const controller = borrowController();
    controller.signal.addEventListener('abort', noop);
    releaseController(controller);
    const next = borrowController();
    expect(next).not.toBe(controller);
    // Once the listener is gone, the next give-back keeps it.
    controller.signal.removeEventListener('abort', noop);
    releaseController(controller);
    expect(borrowController()).toBe(controller);
    releaseController(next);
  });

  it('never lends again a signal marked as kept (a source of AbortSignal.any)', () => {
    const controller = borrowController();
    keepSignal(controller.signal);
    const composite = AbortSignal.any([controller.signal]);
    releaseController(controller);
    expect(borrowController()).not.toBe(controller);
    expect(composite.aborted).toBe(false);
  });

  it('counts a listener by its capture flag, as EventTarget does', () => {
    const controller = borrowController();
    controller.signal.addEventListener('abort', noop, { capture: true });
    controller.signal.addEventListener('abort', noop);
    controller.signal.removeEventListener('abort', noop);
    releaseController(controller);
    const next = borrowController();
    expect(next).not.toBe(controller);
    controller.signal.removeEventListener('abort', noop, true);
    releaseController(controller);
    expect(borrowController()).toBe(controller);
    releaseController(next);
  });

  it('never lends again a signal with an onabort handler', () => {
    const controller = borrowController();
    controller.signal.onabort = noop;
    releaseController(controller);
    const next = borrowController();
    expect(next).not.toBe(controller);
    releaseController(next);
  });

  it('ignores listeners of other types (they never hear an abort) and controllers it did not lend', () => {
    const controller = borrowController();
    controller.signal.addEventListener('other', noop);
    releaseController(controller);
    const foreign = new AbortController();
    releaseController(foreign);
    expect(borrowController()).toBe(controller);
    expect(borrowController()).not.toBe(foreign);
  });

  it('still aborts its listeners like any signal', () => {
    const controller = borrowController();
    let heard = 0;
    controller.signal.addEventListener('abort', () => (heard += 1), { once: true });
    controller.abort(new Error('deadline'));
    expect(heard).toBe(1);
    releaseController(controller);
    expect(borrowController()).not.toBe(controller);
  });
});
