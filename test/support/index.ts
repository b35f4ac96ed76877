// The integration suites' one stack: fake upstream, guard, Express and Hono apps, clients, SSE reading,
// clocks and leak watchers. Suites import from here.
export {
  ADAPTERS,
  ALL_ADAPTERS,
  directClient,
  startApp,
  type AdapterName,
  type App,
  type AppOptions,
  type GuardedHono,
  type RouteSpec,
} from './apps.js';
export {
  expectAnthropicError,
  pooledClient,
  postJson,
  readResult,
  retryCounts,
  runPool,
  type ClientResult,
  type HttpResult,
  type PooledClient,
  type PostInit,
} from './clients.js';
export {
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  heldTimers,
  manualClock,
  runOutAtUpstream,
  stillClock,
  trackingClock,
  type HeldTimers,
  type ManualClock,
  type StillClock,
  type TrackedTimer,
  type TrackingClock,
} from './clocks.js';
export {
  API_KEY,
  FAST_RETRY,
  createTestGuard,
  type CaptureCounts,
  type LogCall,
  type TestGuard,
  type TestGuardOptions,
} from './guard.js';
export {
  PING,
  floodPings,
  healthyMessage,
  healthyStream,
  sse,
  startHostileUpstream,
  type HostileHandler,
  type HostileRequest,
  type HostileUpstream,
  messageStart,
  sseHead,
} from './hostile-upstream.js';
export {
  activeResources,
  activeTimeouts,
  findGc,
  heapAfterGc,
  liveBytes,
  resourcesAbove,
  useProcessWatch,
  type ProcessWatch,
} from './leaks.js';
export { FALLBACK_MODEL, MODEL, PROMPT, expectedReply, messagesBody, params, textOf } from './messages.js';
export {
  SseReader,
  deltaText,
  isCompleteAnthropicStream,
  json,
  names,
  readSse,
  textEventsText,
  type SseMessage,
} from './sse.js';
export {
  NO_RESERVE,
  mergeSettings,
  startStack,
  useStack,
  type Stack,
  type StackOptions,
  type StackSettings,
} from './stack.js';
export { eventually, settledValue, within } from './wait.js';
