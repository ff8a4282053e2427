import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../core/errors.js'

const shared: Options = {
  removeAdditional: false,
  useDefaults: true,
  // Every problem of a body in one 422, as FastAPI does, not just the first.
  allErrors: true,
  strict: false,
  // Named schemas ($id) are shared by several routes: compile each use, register none.
  addUsedSchema: false,
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

  // PostgreSQL cannot store NUL in text: refuse it up front as a 422, not a 500 later; and
  // refuse absurd nesting before anything (this scan, the validator) walks it.
  app.addHook('preValidation', (request, _reply, done) =>
    done(mayBeUnsafe(request) ? unsafeInputError(request) : undefined),
  )
}

/**
 * Without a body, only the URL feeds the query and the path parameters, both flat: a NUL
 * can reach them only as `%00` (HTTP refuses a raw one). Most requests are such GETs,
 * which then skip the walk.
 */
const mayBeUnsafe = (request: FastifyRequest) =>
  request.body !== undefined || request.url.includes('%00')

/**
 * No body of this API nests beyond one object: anything deeper than this is an attack or a
 * mistake, refused before any code walks it (a recursive walk of a ~4,500-level body used to
 * overflow the stack).
 */
export const MAX_NESTING_DEPTH = 32

type Segment = string | number
type Problem = { path: Segment[]; kind: 'nul' | 'depth' }

function unsafeInputError(request: FastifyRequest): AppError | undefined {
  for (const [part, value] of [
    ['body', request.body],
    ['query', request.query],
    ['path', request.params],
  ] as const) {
    const problem = findProblem(value)
    if (problem?.kind === 'depth') {
      return new AppError(422, 'validation_error', [
        {
          loc: [part],
          msg: `Nested more than ${MAX_NESTING_DEPTH} levels deep`,
          type: 'too_deeply_nested',
        },
      ])
    }
    if (problem) {
      return new AppError(422, 'validation_error', [
        {
          loc: [part, ...problem.path],
          msg: 'String must not contain NUL characters',
          type: 'string_nul',
        },
      ])
    }
  }
  return undefined
}

/** A value still to visit, with the way back to the root (rebuilt into a path only on a find). */
interface Visit {
  value: unknown
  key: Segment | null
  parent: Visit | null
  depth: number
}

function pathOf(visit: Visit | null): Segment[] {
  const path: Segment[] = []
  for (let at = visit; at?.key != null; at = at.parent) path.unshift(at.key)
  return path
}

/**
 * The first NUL in a string or key, or a nesting beyond the cap. Iterative, so its stack use
 * and time are bounded by the body's size whatever its shape.
 */
function findProblem(root: unknown): Problem | null {
  const pending: Visit[] = [{ value: root, key: null, parent: null, depth: 0 }]
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    const { value, key } = visit
    if (typeof key === 'string' && key.includes('\u0000')) {
      return { path: pathOf(visit), kind: 'nul' }
    }
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return { path: pathOf(visit), kind: 'nul' }
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (visit.depth >= MAX_NESTING_DEPTH) return { path: pathOf(visit), kind: 'depth' }
    const isArray = Array.isArray(value)
    const entries = Object.entries(value)
    // Pushed in reverse, so fields are looked at in the order they were written.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [name, child] = entries[i] as [string, unknown]
      const segment = isArray ? Number(name) : name
      pending.push({ value: child, key: segment, parent: visit, depth: visit.depth + 1 })
    }
  }
  return null
}
