import { ClaudeGuardError, errorTypeForStatus } from '@claude-guard/core';

/** What Hono's `HTTPException` (and any error built like it) has: a status and its own response. */
export interface HttpExceptionLike extends Error {
  status: number;
  getResponse(): Response;
}

/**
 * Whether `error` is Hono's `HTTPException`, recognized the way Hono's own default handler does
 * (`getResponse`), so a second copy of Hono does not matter.
 *
 * @example
 * ```ts
 * if (isHttpException(error)) return error.getResponse();
 * ```
 */
export function isHttpException(error: unknown): error is HttpExceptionLike {
  return (
    error instanceof Error &&
    typeof (error as Partial<HttpExceptionLike>).getResponse === 'function' &&
    typeof (error as Partial<HttpExceptionLike>).status === 'number'
  );
}

const MAX_MESSAGE_CHARS = 500;
// The body is the guard's: its type and length are too.
const BODY_HEADERS = new Set(['content-type', 'content-length', 'content-encoding']);
const converted = new WeakMap<Error, Promise<ClaudeGuardError | undefined>>();

/**
 * An `HTTPException` with a 4xx or 5xx status as the guard's error: its status, its headers (a 401's
 * `www-authenticate`), and its text, which Hono itself would send: its message, else its response's
 * plain-text body (bearerAuth's "Unauthorized"), else the status's reason phrase. A 5xx is a server
 * failure: the exception goes along as the `cause`, for the guard's log. Converted once per exception
 * (its response body can be read once), `undefined` for anything else.
 *
 * @param error - What the handler threw.
 * @returns The error to answer with, or `undefined`.
 *
 * @example
 * ```ts
 * await httpError(new HTTPException(403, { message: 'You may not' })); // 403 permission_error 'You may not'
 * ```
 */
export function httpError(error: unknown): Promise<ClaudeGuardError | undefined> {
  if (!isHttpException(error) || error.status < 400 || error.status > 599) return Promise.resolve(undefined);
  let answer = converted.get(error);
  if (!answer) {
    answer = convert(error);
    converted.set(error, answer);
  }
  return answer;
}

async function convert(error: HttpExceptionLike): Promise<ClaudeGuardError> {
  const { status } = error;
  const response = error.getResponse();
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!BODY_HEADERS.has(name)) headers[name] = value;
  });
  const message = error.message.trim() || (await plainText(response)) || reasonPhrase(status);
  return new ClaudeGuardError({
    status,
    type: errorTypeForStatus(status),
    message,
    outcome: status < 500 ? 'bad-request' : 'internal-error',
    headers,
    ...(status >= 500 ? { cause: error } : {}),
  });
}

async function plainText(response: Response): Promise<string> {
  if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/plain')) {
    await response.body?.cancel().catch(() => {});
    return '';
  }
  const text = await response.text().catch(() => '');
  return text.trim().slice(0, MAX_MESSAGE_CHARS);
}

// RFC 9110's reason phrases (and 418, 429, 451), for an HTTPException that has no text of its own.
const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? `HTTP ${status}`;
}
