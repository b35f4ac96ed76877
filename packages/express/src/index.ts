export {
  claudeGuard,
  guarded,
  type ExpressGuardedClaude,
  type GuardedHandler,
  type GuardedRequest,
} from './claude-guard.js';
export { claudeProxy } from './claude-proxy.js';
export { claudeGuardErrorHandler, type ClaudeGuardErrorHandlerOptions } from './error-handler.js';
export { toWebRequest, writeWebResponse, closeSignal } from './node-bridge.js';
