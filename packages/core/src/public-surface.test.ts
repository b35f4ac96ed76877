import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The published types are the public API and nothing else: read the built declarations (the root
// `check` builds before it tests) and hold them to the list below. A name added to `index.ts` must
// be added here on purpose; an internal type reached through a public signature fails the test.

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** Everything `@claude-guard/core` exports, values and types. */
const PUBLIC_EXPORTS = [
  'RateLimitReserve',
  'RateLimitOptions',
  'RateLimitName',
  'QueueStatus',
  'PublicAdmissionStatus',
  'Lane',
  'ClientRateLimitView',
  'ConcurrencyStats',
  'ConcurrencyOptions',
  'AdmissionStatus',
  'ANTHROPIC_ERROR_TYPES',
  'AnthropicErrorBody',
  'AnthropicErrorType',
  'AttemptAnswer',
  'AttemptContext',
  'AttemptFailureInfo',
  'AttemptInfo',
  'AttemptSpan',
  'Backoff',
  'BackoffOptions',
  'BeginInput',
  'BeginResult',
  'BreakerOptions',
  'BreakerSnapshot',
  'BreakerState',
  'ClaudeClient',
  'ClaudeGuard',
  'ClaudeGuardError',
  'ClaudeGuardErrorInit',
  'ClaudeGuardOptions',
  'ClaudeMessage',
  'ClientAbortedError',
  'Clock',
  'ContextOptions',
  'DEFAULTS',
  'DEFAULT_DEADLINE_HEADERS',
  'Deadline',
  'DeadlineExceededError',
  'DeadlineHeaderResult',
  'DeadlineOptions',
  'DeadlineSource',
  'FALLBACK_HEADER',
  'FailureKind',
  'FailureOutcome',
  'FallbackClient',
  'FallbackContext',
  'GUARD_ROUTE_HEADER',
  'FallbackTarget',
  'GuardEvent',
  'GuardEventListener',
  'GuardLogger',
  'GuardStatus',
  'GuardedCall',
  'GuardedClaude',
  'GuardedRoute',
  'HeaderReader',
  'Instrumentation',
  'HedgeOptions',
  'LogFormat',
  'LogLevel',
  'MessageCreateParams',
  'MessageStreamParams',
  'MiddlewareOptions',
  'ProxyOptions',
  'PublicBreakerStatus',
  'PublicGuardStatus',
  'RecordedFailure',
  'RequestLogRecord',
  'RequestLogger',
  'RequestSpan',
  'RequestStartInfo',
  'RetryBudget',
  'RetryBudgetOptions',
  'RetryOptions',
  'RouteFallback',
  'RouteOptions',
  'RunOptions',
  'StreamCallOptions',
  'StreamFinal',
  'StreamFormat',
  'StreamOptions',
  'TimerHandle',
  'anthropicErrorBody',
  'claudeGuardErrorOf',
  'createClaudeGuard',
  'createRetryBudget',
  'createMemoryStore',
  'MemoryStoreOptions',
  'SharedStore',
  'FleetOptions',
  'deadlineToHeaders',
  'errorResponse',
  'errorTypeForStatus',
  'exponentialBackoff',
  'formatGrpcTimeout',
  'isAnthropicErrorType',
  'isClaudeGuardError',
  'isValidRequestId',
  'parseDeadlineHeaders',
  'redactSecrets',
  'sdkOptions',
  'statusForErrorType',
  'systemClock',
  'toAnthropicErrorType',
];

/** Declared without being exported because public signatures use them: parameter and option shapes only. */
const REFERENCED_HELPERS = ['ClaudeRequestOptions', 'ErrorResponseIds'];

/** The core's own machinery: none of it may reach the published types, not even unexported. */
const INTERNAL = [
  'CallState',
  'RouteRuntime',
  'GuardRuntime',
  'BreakerRegistry',
  'RouteBreaker',
  'GuardConfig',
  'RouteConfig',
  'NormalizedProxy',
  'NormalizedRetry',
  'StartedAttempt',
  'AttemptTraits',
  'AttemptStarter',
  'GuardEvents',
  'RequestRecord',
  'RecordSink',
  'GuardedRequest',
  'RetryPolicy',
  'RetryPolicyOptions',
  'RetryCall',
  'StreamInput',
  'StreamAnswers',
  'AttemptFailure',
  'AttemptFailedError',
  'BreakerOpenError',
  'MountedRoutes',
  'LogWriter',
  'MessageAssembler',
  'FleetSync',
  'FleetMember',
];

function declarations(file: string): string {
  const path = `${DIST}${file}`;
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build the packages first (pnpm build), as pnpm check does before testing`);
  }
  return readFileSync(path, 'utf8');
}

function exportedNames(text: string): string[] {
  const list = /^export \{([^}]*)\};?$/m.exec(text);
  if (!list) throw new Error('no export list in the declarations');
  return list[1]!
    .split(',')
    .map((name) => name.trim().replace(/^type /, ''))
    .filter((name) => name.length > 0)
    .sort();
}

/** Names declared at the top level (`declare class X`, `interface X`, `type X =` ...). */
function declaredNames(text: string): string[] {
  const names = [
    ...text.matchAll(/^(?:declare )?(?:class|interface|type|const|function|enum|namespace) ([A-Za-z_$][\w$]*)/gm),
  ];
  return [...new Set(names.map((match) => match[1]!))].sort();
}

describe.each(['index.d.ts', 'index.d.cts'])('the published types (%s)', (file) => {
  it('export exactly the public API', () => {
    expect(exportedNames(declarations(file))).toEqual([...PUBLIC_EXPORTS].sort());
  });

  it('declare nothing else but the shapes public signatures use', () => {
    const text = declarations(file);
    const exported = new Set(exportedNames(text));
    expect(declaredNames(text).filter((name) => !exported.has(name))).toEqual([...REFERENCED_HELPERS].sort());
  });

  it.each(INTERNAL)('never mention the internal %s', (name) => {
    expect(declarations(file)).not.toMatch(new RegExp(`\\b${name}\\b`));
  });
});
