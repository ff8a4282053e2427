/** The contract's machine-readable error codes. */
export type ErrorCode =
  | 'bad_request'
  | 'validation_error'
  | 'weak_password'
  | 'email_taken'
  | 'invalid_code'
  | 'already_verified'
  | 'invalid_credentials'
  | 'email_not_verified'
  | 'inactive_user'
  | 'invalid_token'
  | 'not_authenticated'
  | 'forbidden'
  | 'not_found'
  | 'last_admin'
  | 'mfa_required'
  | 'mfa_already_enabled'
  | 'mfa_enrolment_required'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'service_unavailable'
  | 'internal_error'

/** One FastAPI-style validation problem: `loc` like `["body", "email"]`. */
export interface ValidationIssue {
  loc: (string | number)[]
  msg: string
  type: string
}

/**
 * The input a service refused, named in the domain's terms (`newPassword`, not
 * `new_password`); the HTTP error handler turns it into a `loc`.
 */
export interface InvalidInput {
  field: string
  type: string
}

/** The one error type: services throw it, plugins/error-handler.ts renders `{detail, code}`. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    readonly detail: string | ValidationIssue[],
    readonly headers: Record<string, string> = {},
    /** Set by `invalidField`: `detail` is then the message about that one input. */
    readonly invalidInput?: InvalidInput,
    /** Fields the body carries after `detail` and `code` (the `mfa_token` of `mfa_required`). */
    readonly extra: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : (detail[0]?.msg ?? code))
    this.name = 'AppError'
  }
}

export const unauthorized = (code: ErrorCode, detail: string) =>
  new AppError(401, code, detail, { 'www-authenticate': 'Bearer' })

export const forbidden = (detail = 'Not enough permissions') =>
  new AppError(403, 'forbidden', detail)

export const notFound = (detail = 'Not found') => new AppError(404, 'not_found', detail)

export const tooManyRequests = (retryAfterSeconds: number) =>
  new AppError(429, 'rate_limited', 'Too many requests, try again later', {
    'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
  })

/**
 * A 422 for one input of a use case, named by its domain field (`newPassword`); the HTTP
 * layer renders it like the validator's own errors (`loc: ["body", "new_password"]`).
 */
export const invalidField = (
  field: string,
  msg: string,
  type: string,
  code: ErrorCode = 'validation_error',
) => new AppError(422, code, msg, {}, { field, type })

/**
 * A failure at start that the operator fixes (a database that cannot be reached, a data
 * folder in use): the entry point prints its message as one line, without a stack.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StartupError'
  }
}
