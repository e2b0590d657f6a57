/**
 * Why a request failed, as a code a flow can map (example 02 maps them to HTTP statuses with HTTP_STATUS).
 * Only a user's mistake is BAD_REQUEST or NOT_FOUND; a failure of the engine itself is INTERNAL.
 */
export const ERROR_CODES = [
  'BAD_REQUEST', 'NOT_FOUND', 'TOO_LARGE', 'BUSY', 'QUEUE_FULL', 'CANCELLED', 'TIMEOUT', 'ENGINE_EXITED', 'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status of each code, for flows that answer over HTTP. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  TOO_LARGE: 400,
  BUSY: 503,
  QUEUE_FULL: 503,
  CANCELLED: 503,
  TIMEOUT: 504,
  ENGINE_EXITED: 503,
  INTERNAL: 500,
};

/** An error that crosses the process boundary with its code intact. The default code is INTERNAL. */
export class EngineError extends Error {
  constructor(message: string, readonly code: ErrorCode = 'INTERNAL') {
    super(message);
    this.name = 'EngineError';
  }
}

/** A user's mistake: what to change is in the message. */
export function badRequest(message: string): EngineError {
  return new EngineError(message, 'BAD_REQUEST');
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(v);
}

/** The code an error carries (EngineError, or any error with a known `code`), else INTERNAL. */
export function codeOf(err: unknown): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? code : 'INTERNAL';
}
