import { type Static, type TObjectOptions, type TSchema, Type } from 'typebox'
import {
  EMAIL_ADDRESS_PATTERN,
  EMAIL_MAX_LENGTH,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
} from '../core/credentials.js'
import { MAX_CURSOR_LENGTH } from '../core/cursor.js'
import { ULID_PATTERN } from '../core/ids.js'

export const UlidSchema = Type.String({
  pattern: ULID_PATTERN,
  description: 'ULID: 26 characters, Crockford base32',
  examples: ['01JD8X4ZQK3V7M2N5P6R8S9T0W'],
})

/**
 * core/credentials' address. Surrounding blanks are allowed here because the service trims
 * (and lower-cases) before use; bounded like the rest of the pattern.
 */
const EMAIL_PATTERN = `^[ \\t]{0,${EMAIL_MAX_LENGTH}}${EMAIL_ADDRESS_PATTERN}[ \\t]{0,${EMAIL_MAX_LENGTH}}$`

export const EmailSchema = Type.String({
  pattern: EMAIL_PATTERN,
  maxLength: EMAIL_MAX_LENGTH,
  description: 'E-mail address; stored trimmed and lower-cased',
  examples: ['ana@example.com'],
})

export const CodeSchema = Type.String({
  pattern: '^[0-9]{6}$',
  description: 'The 6-digit code from the e-mail',
  examples: ['042917'],
})

export const PasswordSchema = Type.String({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters of any script, compared exactly; common passwords are refused`,
  examples: ['correct horse battery staple'],
})

/**
 * No control characters (C0, DEL, C1) and no bidirectional overrides or isolates
 * (U+202A–U+202E, U+2066–U+2069): a name shown to others must not rearrange or hide the
 * text around it.
 */
const DISPLAY_TEXT_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069]*$'

/** What a pattern means, for the 422 message (the validator would quote the pattern). */
export const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [DISPLAY_TEXT_PATTERN]: 'Must not contain control characters or bidirectional overrides',
}

export const FullNameSchema = Type.Union(
  [Type.String({ minLength: 1, maxLength: 200, pattern: DISPLAY_TEXT_PATTERN }), Type.Null()],
  {
    description: 'Display name, or null',
    examples: ['Ana Lima'],
  },
)

export const RoleSchema = Type.Union([Type.Literal('user'), Type.Literal('admin')], {
  description: '`user` or `admin`',
})

export const ErrorBodySchema = Type.Object(
  {
    detail: Type.String({ examples: ['Email already registered'] }),
    code: Type.String({ examples: ['email_taken'] }),
  },
  { $id: 'ErrorBody', description: 'An error: a human sentence and a stable machine code' },
)
export type ErrorBody = Static<typeof ErrorBodySchema>

export const ValidationErrorBodySchema = Type.Object(
  {
    detail: Type.Array(
      Type.Object({
        loc: Type.Array(Type.Union([Type.String(), Type.Integer()])),
        msg: Type.String(),
        type: Type.String(),
      }),
    ),
    code: Type.String({ examples: ['validation_error'] }),
  },
  {
    $id: 'ValidationErrorBody',
    description: 'Invalid input (FastAPI shape): one item per problem',
    examples: [
      {
        detail: [{ loc: ['body', 'email'], msg: 'Field required', type: 'missing' }],
        code: 'validation_error',
      },
    ],
  },
)

export const HealthStatusSchema = Type.Object(
  { status: Type.String({ examples: ['ok'] }) },
  { $id: 'HealthStatus', description: 'Healthy', examples: [{ status: 'ok' }] },
)

interface ErrorResponseDoc {
  description: string
  example: ErrorBody
  headers?: Record<string, { type: 'string' | 'integer'; description: string }>
}

/** What each error status means, for the docs: a description, a typical body, its headers. */
const ERROR_DOCS: Record<number, ErrorResponseDoc> = {
  400: {
    description: 'Bad request',
    example: { detail: 'Invalid or expired code', code: 'invalid_code' },
  },
  401: {
    description: 'Not authenticated: missing or invalid credentials or token',
    example: { detail: 'Could not validate credentials', code: 'invalid_token' },
    headers: { 'WWW-Authenticate': { type: 'string', description: 'Always `Bearer`' } },
  },
  403: {
    description: 'Not allowed',
    example: { detail: 'Not enough permissions', code: 'forbidden' },
  },
  404: { description: 'Not found', example: { detail: 'User not found', code: 'not_found' } },
  409: {
    description: 'Conflicts with the current state',
    example: { detail: 'Email already registered', code: 'email_taken' },
  },
  429: {
    description: 'Too many requests',
    example: { detail: 'Too many requests, try again later', code: 'rate_limited' },
    headers: { 'Retry-After': { type: 'integer', description: 'Seconds to wait' } },
  },
  503: {
    description: 'Temporarily unavailable',
    example: { detail: 'Database unavailable', code: 'service_unavailable' },
  },
}

const OTHER_ERROR: ErrorResponseDoc = {
  description: 'Error',
  example: { detail: 'Not Found', code: 'not_found' },
}

/** The typical error body of a status, for the docs. */
export const errorExample = (status: number): ErrorBody =>
  (ERROR_DOCS[status] ?? OTHER_ERROR).example

function errorResponse(status: number) {
  const doc = ERROR_DOCS[status] ?? OTHER_ERROR
  // Its own schema per status (no $id), so each response gets its own description and
  // example in the docs; the OpenAPI document names its shape ErrorBody (plugins/openapi-names).
  return Type.Object(
    { detail: Type.String(), code: Type.String() },
    { description: doc.description, examples: [doc.example], headers: doc.headers },
  )
}

/** A `204` answer, which has no body; `description` says what the route did. */
export const noContent = (description: string) => Type.Null({ description })

/** Error responses for a route's schema, by status: `errorResponses(401, 403)`. */
export function errorResponses(...statuses: number[]) {
  const responses: Record<
    number,
    ReturnType<typeof errorResponse> | typeof ValidationErrorBodySchema
  > = {}
  for (const status of statuses) {
    responses[status] = status === 422 ? ValidationErrorBodySchema : errorResponse(status)
  }
  return responses
}

/** `limit` and `cursor`: the query fields of every keyset-paginated listing. */
export const PAGE_QUERY_FIELDS = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1 to 100' }),
  ),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_CURSOR_LENGTH,
      description: 'Opaque: `next_cursor` of the previous page',
    }),
  ),
}

/** One page of a listing: its `items` and the `next_cursor` to pass for the next one. */
export const pageOf = <T extends TSchema>(item: T, options: TObjectOptions) =>
  Type.Object(
    {
      items: Type.Array(item),
      next_cursor: Type.Union([Type.String(), Type.Null()], {
        description: 'Pass as `cursor` for the next page; null on the last page',
      }),
    },
    options,
  )
