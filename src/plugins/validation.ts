import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../core/errors.js'

const shared: Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
}

/**
 * Bodies are typed strictly (a number is not a string) and never stripped of unknown
 * fields; query strings and path parameters arrive as text, so they are coerced.
 */
export function registerValidation(app: FastifyInstance) {
  const bodyAjv = new Ajv({ ...shared, coerceTypes: false })
  const textAjv = new Ajv({ ...shared, coerceTypes: 'array' })
  addFormats.default(bodyAjv)
  addFormats.default(textAjv)
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema),
  )

  // PostgreSQL cannot store NUL in text: refuse it up front as a 422, not a 500 later.
  app.addHook('preValidation', (request, _reply, done) => done(nulError(request)))
}

function nulError(request: FastifyRequest): AppError | undefined {
  for (const [part, value] of [
    ['body', request.body],
    ['query', request.query],
    ['path', request.params],
  ] as const) {
    const path = findNul(value)
    if (path) {
      return new AppError(422, 'validation_error', [
        {
          loc: [part, ...path],
          msg: 'String must not contain NUL characters',
          type: 'string_nul',
        },
      ])
    }
  }
  return undefined
}

function findNul(value: unknown, path: (string | number)[] = []): (string | number)[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null
  if (value === null || typeof value !== 'object') return null
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key]
    const found = findNul(child, [...path, Array.isArray(value) ? Number(key) : key])
    if (found) return found
  }
  return null
}
