export { createFakeAnthropic } from './fake-anthropic.js';
export { createPrng } from './prng.js';
export type { FakeAnthropic } from './fake-anthropic.js';
export type { FakeAnthropicBehaviour, FakeAnthropicOptions, FirstEventDelayChoice } from './options.js';
export type {
  DelayHeadersFault,
  Fault,
  FaultInput,
  InBandErrorFault,
  MalformedFault,
  ResetFault,
  SlowFault,
  StallFault,
  StatusFault,
  TrickleFault,
} from './fault.js';
export { FAULT_HEADER, FaultParseError, parseFaultHeader } from './parse-fault-header.js';
export type { AnthropicErrorType } from './error-type.js';
export { errorTypeForStatus } from './error-type.js';
export type { RequestOutcome, RequestRecord } from './request-record.js';
export type { RateLimitBudget, RateLimitFamily } from './rate-limit-budget.js';
export { CliUsageError, parseCliArgs, runCli } from './run-cli.js';
export type { CliConfig, CliIo } from './run-cli.js';
