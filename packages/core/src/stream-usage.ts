// Where a stream's usage goes once it is known. The observed client (AdmissionRegistry.observe)
// reconciles a non-streaming message's usage itself, but a stream's body is the stream engine's to
// read: the observer leaves its reconciliation here, keyed by the call's SDK promise, and the engine
// hands the usage over at `message_stop`.

/** The usage of one streamed message: `input_tokens` from `message_start`, the final `output_tokens`. */
export interface StreamUsage {
  readonly input_tokens: number | null;
  readonly output_tokens: number | null;
}

type UsageSink = (usage: StreamUsage) => void;

// Weak: a stream that never reaches `message_stop` leaves nothing behind.
const sinks = new WeakMap<object, UsageSink>();

/**
 * Says where the usage of the stream that `call` (the SDK's promise for it) answers goes.
 *
 * @example
 * ```ts
 * expectStreamUsage(pending, (usage) => tracker.reconcile(ticket, usage));
 * ```
 */
export function expectStreamUsage(call: object, sink: UsageSink): void {
  sinks.set(call, sink);
}

/**
 * Hands a finished stream's usage to whoever expects it (once); nothing when nobody does.
 *
 * @example
 * ```ts
 * reportStreamUsage(pending, { input_tokens: 1200, output_tokens: 85 });
 * ```
 */
export function reportStreamUsage(call: object, usage: StreamUsage): void {
  const sink = sinks.get(call);
  if (sink === undefined) return;
  sinks.delete(call);
  sink(usage);
}
