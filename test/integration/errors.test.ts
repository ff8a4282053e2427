import bcrypt from 'bcrypt'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, makeAdmin, PASSWORD, uniqueEmail } from '../helpers/factories.js'

/** The error model of the contract: `{detail, code}`, and FastAPI-style 422 lists. */
let t: TestApp
let admin: { authorization: string }
beforeAll(async () => {
  t = await createTestApp()
  admin = await authHeaders(t, await makeAdmin(t))
})
afterAll(() => t.close())

const signup = (payload: string, contentType = 'application/json') =>
  t.app.inject({
    method: 'POST',
    url: '/auth/signup',
    payload,
    headers: { 'content-type': contentType },
  })

describe('request bodies', () => {
  it('answers a malformed JSON body with 422 json_invalid, not a 500', async () => {
    const response = await signup('{"email": "a@example.com",')
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [{ loc: ['body'], msg: 'Malformed JSON body', type: 'json_invalid' }],
      code: 'validation_error',
    })
  })

  it('answers an empty JSON body with 422 missing', async () => {
    const response = await signup('')
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [{ loc: ['body'], msg: 'Field required', type: 'missing' }],
      code: 'validation_error',
    })
  })

  it('does not coerce types: a number where a string belongs is 422', async () => {
    const response = await signup(JSON.stringify({ email: 12345, password: PASSWORD }))
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      detail: [{ loc: ['body', 'email'], type: 'string_type' }],
      code: 'validation_error',
    })
  })

  it('names a missing field and an unknown one in loc', async () => {
    const missing = await signup(JSON.stringify({ password: PASSWORD }))
    expect(missing.statusCode).toBe(422)
    expect(missing.json()).toEqual({
      detail: [{ loc: ['body', 'email'], msg: 'Field required', type: 'missing' }],
      code: 'validation_error',
    })
    const extra = await signup(
      JSON.stringify({ email: uniqueEmail(), password: PASSWORD, role: 'admin' }),
    )
    expect(extra.statusCode).toBe(422)
    expect(extra.json()).toEqual({
      detail: [
        { loc: ['body', 'role'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
      ],
      code: 'validation_error',
    })
  })

  it('refuses strings holding NUL with 422, before they reach PostgreSQL', async () => {
    const email = uniqueEmail()
    const response = await signup(
      JSON.stringify({ email, password: PASSWORD, full_name: 'Ana\u0000Lima' }),
    )
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [
        {
          loc: ['body', 'full_name'],
          msg: 'String must not contain NUL characters',
          type: 'string_nul',
        },
      ],
      code: 'validation_error',
    })
    const query = await t.app.inject({ method: 'GET', url: '/users?q=an%00a', headers: admin })
    expect(query.statusCode).toBe(422)
    expect(query.json()).toMatchObject({ detail: [{ loc: ['query', 'q'], type: 'string_nul' }] })
  })

  it('answers a body that is not JSON with 415 in the contract shape', async () => {
    const response = await signup('email=a@example.com', 'text/xml')
    expect(response.statusCode).toBe(415)
    expect(response.json()).toMatchObject({ code: 'unsupported_media_type' })
  })
})

describe('query strings', () => {
  it('coerces numbers in the query string, and refuses what is not one', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/users?limit=20', headers: admin })
    expect(ok.statusCode).toBe(200)
    const bad = await t.app.inject({ method: 'GET', url: '/users?limit=twenty', headers: admin })
    expect(bad.statusCode).toBe(422)
    expect(bad.json()).toMatchObject({
      detail: [{ loc: ['query', 'limit'] }],
      code: 'validation_error',
    })
  })

  it('answers a malformed id in the path with 422', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/users/not-a-ulid', headers: admin })
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({
      detail: [{ loc: ['path', 'id'] }],
      code: 'validation_error',
    })
  })
})

describe('unexpected errors', () => {
  // That a failure halfway through a use case leaves nothing behind: transactions.test.ts.
  it('answer 500 internal_error without a stack or the error message', async () => {
    const email = uniqueEmail()
    const body = JSON.stringify({ email, password: PASSWORD })
    const spy = vi
      .spyOn(bcrypt, 'hash')
      .mockRejectedValueOnce(new Error('bcrypt exploded at /srv/app.ts:1'))
    try {
      const response = await signup(body)
      expect(response.statusCode).toBe(500)
      expect(response.json()).toEqual({ detail: 'Internal Server Error', code: 'internal_error' })
      expect(response.body).not.toContain('exploded')
      expect(response.headers['x-request-id']).toBeTruthy()
    } finally {
      spy.mockRestore()
    }
  })
})
