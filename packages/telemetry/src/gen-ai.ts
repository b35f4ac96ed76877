// Names of the OpenTelemetry GenAI semantic conventions, copied: `@opentelemetry/semantic-conventions`
// exports them only from its unstable `incubating` entry point, which says to copy them.

export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = 'gen_ai.usage.cache_creation.input_tokens';
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_HTTP_REQUEST_RESEND_COUNT = 'http.request.resend_count';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

export const GEN_AI_OPERATION_CHAT = 'chat';
export const GEN_AI_PROVIDER_ANTHROPIC = 'anthropic';

export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration';
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage';
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = 'gen_ai.client.operation.time_to_first_chunk';

/** The conventions' advised buckets for GenAI durations, in seconds. */
export const GEN_AI_DURATION_BUCKETS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** The conventions' advised buckets for token counts. */
export const GEN_AI_TOKEN_BUCKETS: readonly number[] = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

// The guard's own attributes, in the same style.
export const ATTR_ROUTE = 'claude_guard.route';
export const ATTR_REQUEST_ID = 'claude_guard.request_id';
export const ATTR_OUTCOME = 'claude_guard.outcome';
export const ATTR_STATUS_CLASS = 'claude_guard.status_class';
export const ATTR_ATTEMPTS = 'claude_guard.attempts';
export const ATTR_ATTEMPT = 'claude_guard.attempt';
export const ATTR_STREAM = 'claude_guard.stream';
export const ATTR_RETRY_REASON = 'claude_guard.retry.reason';
/** `started`, `won` (the hedge answered first) or `lost` (the first attempt did). */
export const ATTR_HEDGE_RESULT = 'claude_guard.hedge.result';
export const ATTR_RETRY_DELAY_MS = 'claude_guard.retry.delay_ms';
export const ATTR_BREAKER_KEY = 'claude_guard.breaker.key';
export const ATTR_BREAKER_STATE = 'claude_guard.breaker.state';
export const ATTR_COMMITTED_BY = 'claude_guard.stream.committed_by';
export const ATTR_DEADLINE_SOURCE = 'claude_guard.deadline.source';
export const ATTR_DEADLINE_BUDGET_MS = 'claude_guard.deadline.budget_ms';
export const ATTR_GIVE_UP_REASON = 'claude_guard.give_up.reason';
export const ATTR_TOKEN_TYPE = 'claude_guard.token.type';

export const EVENT_RETRY = 'claude_guard.retry';
export const EVENT_BREAKER_REJECTED = 'claude_guard.breaker_rejected';
export const EVENT_STREAM_COMMITTED = 'claude_guard.stream_committed';
export const EVENT_STREAM_STALLED = 'claude_guard.stream_stalled';
export const EVENT_CLIENT_DISCONNECTED = 'claude_guard.client_disconnected';
export const EVENT_DEADLINE_EXCEEDED = 'claude_guard.deadline_exceeded';
export const EVENT_RETRY_BUDGET_REJECTED = 'claude_guard.retry_budget_rejected';
export const EVENT_GIVE_UP = 'claude_guard.give_up';
