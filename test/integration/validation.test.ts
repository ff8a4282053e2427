import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_VALIDATION_ISSUES } from '../../src/plugins/error-handler.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { PASSWORD, postJson, uniqueEmail } from '../helpers/auth-flow.js'
import { authHeaders, makeAdmin, makeUser } from '../helpers/factories.js'

/** What a 422 reports (every problem at once), and what `full_name` refuses. */
let t: TestApp
let admin: { authorization: string }
beforeAll(async () => {
  t = await createTestApp()
  admin = await authHeaders(t, await makeAdmin(t))
})
afterAll(() => t.close())

const patch = (id: string, headers: { authorization: string }, payload: object) =>
  t.app.inject({ method: 'PATCH', url: `/users/${id}`, headers, payload })

const fields = (body: { detail: { loc: unknown[] }[] }) => body.detail.map((item) => item.loc)

describe('a 422 lists every problem of the body', () => {
  it('names both missing fields of an empty sign-up', async () => {
    const response = await postJson(t, '/auth/signup', {})
    expect(response.statusCode).toBe(422)
    expect(response.json()).toEqual({
      detail: [
        { loc: ['body', 'email'], msg: 'Field required', type: 'missing' },
        { loc: ['body', 'password'], msg: 'Field required', type: 'missing' },
      ],
      code: 'validation_error',
    })
  })

  it('names each wrong, missing and unknown field once', async () => {
    const response = await postJson(t, '/auth/password/reset', {
      email: 42,
      code: '12',
      full_name: 'not here',
    })
    expect(response.statusCode).toBe(422)
    expect(response.json().detail).toEqual([
      { loc: ['body', 'new_password'], msg: 'Field required', type: 'missing' },
      {
        loc: ['body', 'full_name'],
        msg: 'Extra inputs are not permitted',
        type: 'extra_forbidden',
      },
      { loc: ['body', 'email'], msg: 'Must be string', type: 'string_type' },
      expect.objectContaining({ loc: ['body', 'code'], type: 'string_pattern_mismatch' }),
    ])
  })

  it('gives a choice of values and a nullable field one item each', async () => {
    const target = await makeUser(t)
    const response = await patch(target.id, admin, {
      role: 'superuser',
      is_active: 'yes',
      full_name: 7,
    })
    expect(response.statusCode).toBe(422)
    expect(response.json().detail).toEqual([
      { loc: ['body', 'full_name'], msg: 'Must be string', type: 'string_type' },
      { loc: ['body', 'role'], msg: "Must be 'user' or 'admin'", type: 'literal_error' },
      { loc: ['body', 'is_active'], msg: 'Must be boolean', type: 'boolean_type' },
    ])
  })

  it('keeps the answer small however many unknown fields are sent', async () => {
    const payload: Record<string, number> = {}
    for (let i = 0; i < 2_000; i++) payload[`field${i}`] = i
    const response = await postJson(t, '/auth/signup', payload)
    expect(response.statusCode).toBe(422)
    const locs = fields(response.json())
    expect(locs).toHaveLength(MAX_VALIDATION_ISSUES)
    expect(locs.slice(0, 3)).toEqual([
      ['body', 'email'],
      ['body', 'password'],
      ['body', 'field0'],
    ])
  })
})

/** Control characters and the bidi overrides and isolates that can disguise a name. */
const REFUSED = {
  'a bell (C0)': '\u0007',
  'a tab': '\t',
  'a line feed': '\n',
  DEL: '\u007f',
  'next line (C1)': '\u0085',
  'left-to-right embedding': '\u202a',
  'right-to-left override': '\u202e',
  'left-to-right isolate': '\u2066',
  'pop directional isolate': '\u2069',
}
const FULL_NAME_ISSUE = {
  loc: ['body', 'full_name'],
  msg: 'Must not contain control characters or bidirectional overrides',
  type: 'string_pattern_mismatch',
}

describe('full_name', () => {
  for (const [what, character] of Object.entries(REFUSED)) {
    it(`refuses ${what} on sign-up and on PATCH`, async () => {
      const fullName = `Ana${character}Lima`
      const email = uniqueEmail()
      const signedUp = await postJson(t, '/auth/signup', {
        email,
        password: PASSWORD,
        full_name: fullName,
      })
      expect(signedUp.statusCode).toBe(422)
      expect(signedUp.json().detail).toEqual([FULL_NAME_ISSUE])
      // Nothing was created: the same address signs up without it.
      const clean = await postJson(t, '/auth/signup', { email, password: PASSWORD })
      expect(clean.statusCode).toBe(201)

      const user = await makeUser(t)
      const patched = await patch(user.id, await authHeaders(t, user), { full_name: fullName })
      expect(patched.statusCode).toBe(422)
      expect(patched.json().detail).toEqual([FULL_NAME_ISSUE])
    })
  }

  it('accepts names in any script, with accents and marks', async () => {
    const user = await makeUser(t)
    for (const fullName of ['Zoë Ñúñez-Ødegård', '李小龍', 'محمد علي', "O'Brien Jr."]) {
      const response = await patch(user.id, await authHeaders(t, user), { full_name: fullName })
      expect(response.statusCode).toBe(200)
      expect(response.json().full_name).toBe(fullName)
    }
  })
})
