import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_NESTING_DEPTH } from '../../src/plugins/validation.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { CONTRACT } from '../helpers/contract.js'
import { authHeaders, makeAdmin } from '../helpers/factories.js'
import { type NestingShape, nestedJson } from '../helpers/hostile-bodies.js'

/**
 * Deeply nested JSON, well under the body limit and with no login needed, used to overflow
 * the stack of the NUL scan: a 500 and a stack trace per request. Every route that takes a
 * body must answer any nesting with a 422, and the process stay live meanwhile.
 */
let t: TestApp
let admin: { authorization: string }
beforeAll(async () => {
  t = await createTestApp()
  admin = await authHeaders(t, await makeAdmin(t))
})
afterAll(() => t.close())

/** Every route that takes a body, as the app documents them (a new one is covered too). */
function bodyRoutes(): { method: 'POST' | 'PATCH' | 'PUT'; url: string }[] {
  const paths = (t.app.swagger() as unknown as { paths: Record<string, Record<string, object>> })
    .paths
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, operation]) => 'requestBody' in operation)
      .map(([method, _]) => ({
        method: method.toUpperCase() as 'POST' | 'PATCH' | 'PUT',
        url: path.replace('{id}', '01JD8X4ZQK3V7M2N5P6R8S9T0W'),
      })),
  )
}

const SHAPES: NestingShape[] = ['array', 'object', 'mixed', 'in-field']

describe('deeply nested bodies', () => {
  it('finds every route that takes a body', () => {
    const routes = bodyRoutes().map((route) => `${route.method} ${route.url}`)
    // Every POST and PATCH of the contract takes a body.
    const withBodies = Object.keys(CONTRACT)
      .filter((route) => /^(post|patch) /.test(route))
      .map((route) => {
        const [method = '', path = ''] = route.split(' ')
        return `${method.toUpperCase()} /v1${path.replace('{id}', '01JD8X4ZQK3V7M2N5P6R8S9T0W')}`
      })
    expect(routes.sort()).toEqual(withBodies.sort())
  })

  for (const depth of [10, 1_000, 10_000]) {
    it(`answers nesting ${depth} levels deep with a 422 on every route, live meanwhile`, async () => {
      const requests = bodyRoutes().flatMap((route) =>
        SHAPES.map(async (shape) => {
          const payload = nestedJson(depth, shape)
          const response = await t.app.inject({
            ...route,
            payload,
            headers: { ...admin, 'content-type': 'application/json' },
          })
          return { what: `${route.method} ${route.url} ${shape}`, response }
        }),
      )
      const live = t.app.inject({ method: 'GET', url: '/health/live' })
      const answers = await Promise.all(requests)
      expect((await live).statusCode).toBe(200)
      const wrong = answers
        .filter(({ response }) => response.statusCode !== 422)
        .map(({ what, response }) => `${what}: ${response.statusCode} ${response.body}`)
      expect(wrong).toEqual([])
      for (const { response } of answers) {
        const body = response.json()
        expect(Object.keys(body).sort()).toEqual(['code', 'detail'])
        expect(body.code).toBe('validation_error')
        expect(Array.isArray(body.detail)).toBe(true)
      }
    })
  }

  it('names the nesting limit when that is what was wrong', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/auth/signup',
      payload: nestedJson(MAX_NESTING_DEPTH + 1, 'object'),
      headers: { 'content-type': 'application/json' },
    })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [
        {
          loc: ['body'],
          msg: `Nested more than ${MAX_NESTING_DEPTH} levels deep`,
          type: 'too_deeply_nested',
        },
      ],
      code: 'validation_error',
    })
  })
})
