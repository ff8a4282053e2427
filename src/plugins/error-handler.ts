import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, type ErrorCode, type ValidationIssue } from '../core/errors.js'
import { PATTERN_MESSAGES } from '../schemas/common.js'

interface AjvIssue {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

/** Fastify's validation contexts, named as FastAPI names them in `loc`. */
const LOCATIONS: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
}

const KEYWORD_TYPES: Record<string, string> = {
  required: 'missing',
  additionalProperties: 'extra_forbidden',
  minLength: 'string_too_short',
  maxLength: 'string_too_long',
  pattern: 'string_pattern_mismatch',
  format: 'value_error',
  minimum: 'greater_than_equal',
  maximum: 'less_than_equal',
  enum: 'enum',
  const: 'literal_error',
  anyOf: 'union_error',
}

function toIssue(issue: AjvIssue, context: string): ValidationIssue {
  const loc: (string | number)[] = [LOCATIONS[context] ?? context]
  for (const segment of issue.instancePath.split('/').slice(1)) {
    const text = segment.replace(/~1/g, '/').replace(/~0/g, '~')
    loc.push(/^\d+$/.test(text) ? Number(text) : text)
  }
  if (issue.keyword === 'required') {
    loc.push(String(issue.params.missingProperty))
    return { loc, msg: 'Field required', type: 'missing' }
  }
  if (issue.keyword === 'additionalProperties') {
    loc.push(String(issue.params.additionalProperty))
    return { loc, msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }
  }
  if (issue.keyword === 'const') {
    return { loc, msg: `Must be ${quote(issue.params.allowedValue)}`, type: 'literal_error' }
  }
  const type =
    issue.keyword === 'type'
      ? `${String(issue.params.type)}_type`
      : (KEYWORD_TYPES[issue.keyword] ?? issue.keyword)
  const message =
    (issue.keyword === 'pattern' && PATTERN_MESSAGES[String(issue.params.pattern)]) ||
    (issue.message ?? 'is invalid')
  return { loc, msg: message.charAt(0).toUpperCase() + message.slice(1), type }
}

const quote = (value: unknown) => (typeof value === 'string' ? `'${value}'` : String(value))

/**
 * At most this many problems in one 422: more than any body of this API can have, and a body
 * of a thousand unknown fields does not get an answer ten times its size.
 */
export const MAX_VALIDATION_ISSUES = 20

/**
 * Every field's problem in one list, one item per field as FastAPI gives them: the first the
 * validator found (a union's branches come before its summary), and a choice of literals
 * (`role`) as one item naming them all.
 */
function validationIssues(errors: AjvIssue[], context: string): ValidationIssue[] {
  const byField = new Map<string, { issue: ValidationIssue; choices: unknown[] }>()
  for (const error of errors) {
    const issue = toIssue(error, context)
    const key = JSON.stringify(issue.loc)
    const seen = byField.get(key)
    if (seen?.issue.type === 'literal_error' && error.keyword === 'const') {
      seen.choices.push(error.params.allowedValue)
      seen.issue.msg = `Must be ${seen.choices.map(quote).join(' or ')}`
    } else if (!seen && byField.size < MAX_VALIDATION_ISSUES) {
      byField.set(key, { issue, choices: [error.params.allowedValue] })
    }
  }
  return [...byField.values()].map((field) => field.issue)
}

/** Fastify's own client errors, rendered in the contract's shape. */
function frameworkError(error: FastifyError): AppError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError(422, 'validation_error', [
        { loc: ['body'], msg: 'Malformed JSON body', type: 'json_invalid' },
      ])
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError(422, 'validation_error', [
        { loc: ['body'], msg: 'Field required', type: 'missing' },
      ])
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(413, 'payload_too_large', 'Request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(
        415,
        'unsupported_media_type',
        'Unsupported Content-Type; send application/json',
      )
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const code: ErrorCode =
      status === 413
        ? 'payload_too_large'
        : status === 415
          ? 'unsupported_media_type'
          : 'bad_request'
    return new AppError(status, code, error.message)
  }
  return null
}

/** Network errors and SQLSTATEs that mean "the database is not there right now". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
])
const UNAVAILABLE_STATES = /^(08...|57P0[123]|53300)$/
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/

/** True when a database error (possibly wrapped by Drizzle in `cause`) is an outage, not a bug. */
function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (
      typeof code === 'string' &&
      (UNREACHABLE_CODES.has(code) || UNAVAILABLE_STATES.test(code))
    ) {
      return true
    }
    if (UNAVAILABLE_MESSAGES.test(current.message)) return true
    current = current.cause
  }
  return false
}

function toAppError(error: unknown): AppError | null {
  if (error instanceof AppError) return error
  if (isDatabaseUnavailable(error)) {
    return new AppError(
      503,
      'service_unavailable',
      'Service temporarily unavailable, try again later',
      {
        'retry-after': '5',
      },
    )
  }
  const fastifyError = error as FastifyError
  if (Array.isArray(fastifyError.validation)) {
    const context = fastifyError.validationContext ?? 'body'
    const issues = validationIssues(fastifyError.validation as AjvIssue[], context)
    return new AppError(422, 'validation_error', issues)
  }
  if (typeof fastifyError.statusCode === 'number' || typeof fastifyError.code === 'string') {
    return frameworkError(fastifyError)
  }
  return null
}

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/** The request parts whose schema can name an input, as FastAPI names them in `loc`. */
const INPUT_PARTS = [
  ['querystring', 'query'],
  ['params', 'path'],
] as const

/**
 * Where a service's `field` came from in this request: the route's query or path schema
 * when it declares that name, the body otherwise (`newPassword` → `["body", "new_password"]`).
 */
function locationOf(request: FastifyRequest, field: string): (string | number)[] {
  const name = snakeCase(field)
  const schema = request.routeOptions.schema as
    | Record<string, { properties?: Record<string, unknown> } | undefined>
    | undefined
  const part = INPUT_PARTS.find(([key]) => schema?.[key]?.properties?.[name] !== undefined)
  return [part?.[1] ?? 'body', name]
}

/** The response's `detail`: a service's refused input becomes a validator-shaped item. */
function detailOf(error: AppError, request: FastifyRequest): string | ValidationIssue[] {
  const input = error.invalidInput
  if (input === undefined) return error.detail
  const msg = typeof error.detail === 'string' ? error.detail : ''
  return [{ loc: locationOf(request, input.field), msg, type: input.type }]
}

/** The one place where errors become responses: `{detail, code}`, never a stack trace. */
export function registerErrorHandlers(
  app: FastifyInstance,
  options: { onUnexpected?: (error: unknown, request: FastifyRequest) => void } = {},
) {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(error)
    if (appError) {
      if (appError.status >= 500) request.log.error({ err: error }, appError.message)
      return reply
        .code(appError.status)
        .headers(appError.headers)
        .send({ detail: detailOf(appError, request), code: appError.code, ...appError.extra })
    }
    request.log.error({ err: error }, 'unexpected error')
    options.onUnexpected?.(error, request)
    return reply.code(500).send({ detail: 'Internal Server Error', code: 'internal_error' })
  })

  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send({ detail: 'Not Found', code: 'not_found' }),
  )
}
