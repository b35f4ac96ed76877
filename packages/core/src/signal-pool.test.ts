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
});
