export { claudeGuard, type ClaudeGuardVariables, type HonoGuardedClaude } from './claude-guard.js';
export { claudeProxy } from './claude-proxy.js';
export { claudeGuardErrorHandler, type ClaudeGuardErrorHandlerOptions } from './error-handler.js';
