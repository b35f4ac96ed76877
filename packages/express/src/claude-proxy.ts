import type { ClaudeGuard, RouteOptions } from '@claude-guard/core';
import type { RequestHandler } from 'express';
import { markGuardHandler } from './guard-route.js';
import { closeSignal, toWebRequest, writeWebResponse } from './node-bridge.js';

/**
 * A ready `POST /v1/messages` route that speaks the Anthropic Messages API: validated, guarded,
 * streamed when `"stream": true`. Point any Anthropic SDK's `baseURL` at your app.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name, limits (`proxy.maxBodyBytes`, `proxy.allowedModels`, ...) and overrides
 * @returns an Express handler
 * @example
 * ```ts
 * app.post('/v1/messages', claudeProxy(guard, { route: 'proxy', proxy: { maxTokensCap: 4096 } }));
 * ```
 */
export function claudeProxy(guard: ClaudeGuard, options: RouteOptions): RequestHandler {
  const route = guard.route(options);
  return markGuardHandler<RequestHandler>((req, res, next) => {
    const signal = closeSignal(res);
    let request: globalThis.Request;
    try {
      request = toWebRequest(req, signal);
    } catch (error) {
      next(error);
      return;
    }
    route
      .proxy(request)
      .then((response) => writeWebResponse(res, response))
      .catch(next);
  });
}
