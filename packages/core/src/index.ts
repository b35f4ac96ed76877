export { createClaudeGuard } from './guard.js';
export type {
  ClaudeGuard,
  ContextOptions,
  GuardedRoute,
  GuardStatus,
  MiddlewareOptions,
  PublicGuardStatus,
  RunOptions,
} from './guard.js';
export { claudeGuardErrorOf } from './guard-error-of.js';
export { GUARD_ROUTE_HEADER } from './sdk-middleware.js';
export type {
  BeginInput,
  BeginResult,
  GuardedCall,
  GuardedClaude,
  HeaderReader,
  StreamCallOptions,
} from './guarded-call.js';
export type { AttemptContext } from './retry-loop.js';
export { sdkOptions } from './sdk-options.js';
export { DEFAULTS } from './options.js';
export type {
  BreakerOptions,
  ClaudeGuardOptions,
  ConcurrencyOptions,
  DeadlineOptions,
  RateLimitOptions,
  ProxyOptions,
  RetryOptions,
  RouteOptions,
  StreamOptions,
} from './options.js';
export type { RetryBudgetOptions, RetryBudget } from './retry-budget.js';
export { createMemoryStore } from './shared-store.js';
export type { MemoryStoreOptions, SharedStore } from './shared-store.js';
export type { FleetOptions } from './options.js';
export { createRetryBudget } from './retry-budget.js';
export { exponentialBackoff } from './backoff.js';
export type { Backoff, BackoffOptions } from './backoff.js';
export { Deadline, DeadlineExceededError, ClientAbortedError } from './deadline.js';
export type { DeadlineSource } from './deadline.js';
export {
  parseDeadlineHeaders,
  deadlineToHeaders,
  formatGrpcTimeout,
  DEFAULT_DEADLINE_HEADERS,
} from './deadline-header.js';
export type { DeadlineHeaderResult } from './deadline-header.js';
export { ClaudeGuardError, isClaudeGuardError } from './guard-error.js';
export type { FailureOutcome, ClaudeGuardErrorInit } from './guard-error.js';
export {
  ANTHROPIC_ERROR_TYPES,
  errorTypeForStatus,
  isAnthropicErrorType,
  statusForErrorType,
  toAnthropicErrorType,
} from './anthropic-error-types.js';
export type { AnthropicErrorType } from './anthropic-error-types.js';
export { anthropicErrorBody, redactSecrets } from './error-body.js';
export type { AnthropicErrorBody } from './error-body.js';
export { errorResponse } from './response.js';
export type { BreakerSnapshot, BreakerState, PublicBreakerStatus } from './breaker-registry.js';
export type { GuardEvent, GuardEventListener } from './events.js';
export type {
  AttemptAnswer,
  AttemptFailureInfo,
  AttemptInfo,
  AttemptSpan,
  Instrumentation,
  RequestSpan,
  RequestStartInfo,
} from './instrumentation.js';
export type { GuardLogger, LogFormat, LogLevel, RequestLogger, RequestLogRecord } from './logger.js';
export type { StreamFormat } from './stream-engine.js';
export type { StreamFinal } from './stream-final.js';
export type { RecordedFailure } from './request-record.js';
export type { FailureKind } from './classify.js';
export type { FallbackContext, RouteFallback } from './fallback.js';
export type { FallbackClient, FallbackTarget } from './fallback-targets.js';
export type { HedgeOptions } from './hedge.js';
export { FALLBACK_HEADER } from './hedge-legs.js';
export type { Clock, TimerHandle } from './clock.js';
export { systemClock } from './clock.js';
export type { ClaudeClient, ClaudeMessage, MessageCreateParams, MessageStreamParams } from './claude-client.js';
export { isValidRequestId } from './request-id.js';
export type { AdmissionStatus, PublicAdmissionStatus, QueueStatus } from './admission.js';
export type { ConcurrencyStats, Lane } from './concurrency-limiter.js';
export type { ClientRateLimitView, RateLimitName, RateLimitReserve } from './rate-limit-tracker.js';
