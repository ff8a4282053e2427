import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD, postJson, signup, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin } from '../helpers/factories.js'

/**
 * Token responses must not be stored (RFC 6749 §5.1), nor user data; their errors neither,
 * so that no cache keeps an answer of these routes whatever it was.
 */
let t: TestApp
let admin: { authorization: string }
let adminId: string
beforeAll(async () => {
  t = await createTestApp()
  const made = await makeAdmin(t)
  adminId = made.id
  admin = await authHeaders(t, made)
})
afterAll(() => t.close())

const PRIVATE_SHAPES = ['TokenPair', 'User', 'UserList'].map(
  (name) => `#/components/schemas/${name}`,
)

interface Operation {
  security?: unknown[]
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>
}

/** Every route whose success answer is a token pair or user data, from the document. */
function privateRoutes() {
  const paths = (t.app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> })
    .paths
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, operation]) =>
        Object.entries(operation.responses).some(
          ([status, response]) =>
            status.startsWith('2') &&
            PRIVATE_SHAPES.includes(response.content?.['application/json']?.schema?.$ref ?? ''),
        ),
      )
      .map(([method, operation]) => ({
        method: method.toUpperCase() as 'GET' | 'POST' | 'PATCH',
        path,
        url: path.replace('{id}', adminId),
        needsToken: (operation.security ?? []).length > 0,
      })),
  )
}

function expectNoStore(what: string, response: LightMyRequestResponse, status: number) {
  expect(response.statusCode, `${what}: ${response.body}`).toBe(status)
  expect(response.headers['cache-control'], what).toBe('no-store')
  expect(response.headers.pragma, what).toBe('no-cache')
}

describe('Cache-Control: no-store', () => {
  it('is sent on every success of the token and user routes', async () => {
    const email = uniqueEmail()
    const { code } = await signup(t, email)
    const signedUp = await postJson(t, '/auth/signup', { email: uniqueEmail(), password: PASSWORD })
    expectNoStore('signup', signedUp, 201)
    expectNoStore('verify', await postJson(t, '/auth/verify', { email, code }), 200)
    const login = await postJson(t, '/auth/login', { email, password: PASSWORD })
    expectNoStore('login', login, 200)
    const refreshed = await postJson(t, '/auth/refresh', {
      refresh_token: login.json().refresh_token,
    })
    expectNoStore('refresh', refreshed, 200)
    const get = (url: string) => t.app.inject({ method: 'GET', url, headers: admin })
    expectNoStore('me', await get('/users/me'), 200)
    expectNoStore('list', await get('/users'), 200)
    expectNoStore('get', await get(`/users/${adminId}`), 200)
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/users/${adminId}`,
      headers: admin,
      payload: { full_name: 'Admin' },
    })
    expectNoStore('patch', patch, 200)
  })

  it('is sent on their errors too: every such route, found from the document', async () => {
    const routes = privateRoutes()
    expect(routes.map((route) => `${route.method} ${route.path}`).sort()).toEqual(
      expect.arrayContaining([
        'GET /v1/users',
        'GET /v1/users/me',
        'GET /v1/users/{id}',
        'PATCH /v1/users/{id}',
        'POST /v1/auth/login',
        'POST /v1/auth/refresh',
        'POST /v1/auth/signup',
        'POST /v1/auth/verify',
      ]),
    )
    for (const { method, url, needsToken } of routes) {
      // An empty object for a body: 401 without a token, else 422 for the missing fields.
      const response = await t.app.inject({
        method,
        url,
        ...(method === 'GET' ? {} : { payload: {} }),
      })
      expectNoStore(`${method} ${url}`, response, needsToken ? 401 : 422)
    }
  })

  it('is sent on errors the body parser raises, and on wrong credentials', async () => {
    const form = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: '<login/>',
      headers: { 'content-type': 'application/xml' },
    })
    expectNoStore('login 415', form, 415)
    const broken = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: '{"refresh_token":',
      headers: { 'content-type': 'application/json' },
    })
    expectNoStore('refresh 422', broken, 422)
    const wrong = await postJson(t, '/auth/login', { email: uniqueEmail(), password: PASSWORD })
    expectNoStore('login 401', wrong, 401)
  })

  it('is sent on a 429 from the rate limit', async () => {
    const limited = await createTestApp({ RATE_LIMIT_MAX: '100', AUTH_RATE_LIMIT_MAX: '1' })
    try {
      const attempt = () =>
        limited.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: uniqueEmail(), password: PASSWORD },
        })
      expectNoStore('first login', await attempt(), 401)
      expectNoStore('second login', await attempt(), 429)
    } finally {
      await limited.close()
    }
  })

  it('is not sent where there is nothing private', async () => {
    const live = await t.app.inject({ method: 'GET', url: '/health/live' })
    expect(live.headers['cache-control']).toBeUndefined()
  })
})
