import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oneTimeCodes } from '../../src/db/schema.js'
import { createRepositories } from '../../src/repositories/index.js'
import { runCleanup } from '../../src/services/cleanup.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  invalidCode,
  login,
  otherCode,
  PASSWORD,
  postJson,
  signup,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { NEW_PASSWORD } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** Six digits other than `code`. */

/** The code of the `nth` message to `email`, once it has arrived. */
const mailedCode = async (t: TestApp, email: string, nth: number) =>
  codeFrom(await t.inbox.waitForMessage(email, nth))

function flows(t: () => TestApp) {
  const verify = (email: string, code: string) => postJson(t(), '/auth/verify', { email, code })
  const reset = (email: string, code: string) =>
    postJson(t(), '/auth/password/reset', { email, code, new_password: NEW_PASSWORD })
  async function resend(email: string, nth: number) {
    expect((await postJson(t(), '/auth/verify/resend', { email })).statusCode).toBe(202)
    return mailedCode(t(), email, nth)
  }
  async function forgot(email: string, nth: number) {
    expect((await postJson(t(), '/auth/password/forgot', { email })).statusCode).toBe(202)
    return mailedCode(t(), email, nth)
  }
  /** `count` wrong guesses at `code`, each answered `400 invalid_code`. */
  async function guessWrong(
    attempt: (email: string, code: string) => ReturnType<typeof verify>,
    email: string,
    code: string,
    count: number,
  ) {
    for (let i = 0; i < count; i++) {
      const response = await attempt(email, otherCode(code))
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual(invalidCode)
    }
  }
  return { verify, reset, resend, forgot, guessWrong }
}

describe('wrong code tries per account and purpose, across re-issued codes', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())
  const { verify, reset, resend, forgot, guessWrong } = flows(() => t)

  it('stops the verify loop (4 guesses, new code, again) at 10 wrong tries, right code too, for an hour', async () => {
    const email = uniqueEmail('victim')
    let { code } = await signup(t, email)
    await guessWrong(verify, email, code, 4)
    code = await resend(email, 2)
    await guessWrong(verify, email, code, 4)
    code = await resend(email, 3)
    await guessWrong(verify, email, code, 2)
    const tenthAt = t.clock.now().getTime()
    await guessWrong(verify, email, code, 2) // refused unchecked: they do not count
    // The code itself has had only 4 of its 5 tries: the account's limit refuses it.
    expect((await verify(email, code)).json()).toEqual(invalidCode)

    // A new code within the hour is refused as well, up to the last millisecond.
    t.clock.set(new Date(tenthAt + 50 * MINUTE))
    code = await resend(email, 4)
    expect((await verify(email, code)).json()).toEqual(invalidCode)
    t.clock.set(new Date(tenthAt + HOUR - 1))
    expect((await verify(email, code)).json()).toEqual(invalidCode)
    t.clock.set(new Date(tenthAt + HOUR))
    const verified = await verify(email, code)
    expect(verified.statusCode).toBe(200)
    expect(verified.json()).toMatchObject({ email, is_verified: true })
  })

  it('stops the reset loop the same way: the password stays, the owner resets after the hour', async () => {
    const user = await verifiedUser(t)
    let code = await forgot(user.email, 2)
    await guessWrong(reset, user.email, code, 4)
    code = await forgot(user.email, 3)
    await guessWrong(reset, user.email, code, 4)
    code = await forgot(user.email, 4)
    await guessWrong(reset, user.email, code, 3) // the 11th is not checked
    const tenthAt = t.clock.now().getTime()
    expect((await reset(user.email, code)).json()).toEqual(invalidCode)
    await login(t, user.email, PASSWORD)

    t.clock.set(new Date(tenthAt + HOUR - 5 * MINUTE))
    code = await forgot(user.email, 5)
    expect((await reset(user.email, code)).json()).toEqual(invalidCode)
    t.clock.set(new Date(tenthAt + HOUR))
    expect((await reset(user.email, code)).statusCode).toBe(204)
    await login(t, user.email, NEW_PASSWORD)
  })

  it('burns one code after 5 wrong tries; a fresh code then works while the budget lasts', async () => {
    const user = await verifiedUser(t)
    let code = await forgot(user.email, 2)
    await guessWrong(reset, user.email, code, 5)
    expect((await reset(user.email, code)).json()).toEqual(invalidCode)
    code = await forgot(user.email, 3)
    await guessWrong(reset, user.email, code, 4)
    // 9 wrong tries: the right code is the 10th try and is accepted.
    expect((await reset(user.email, code)).statusCode).toBe(204)
  })

  it('does not count the right code as a wrong try', async () => {
    const user = await verifiedUser(t)
    let code = await forgot(user.email, 2)
    await guessWrong(reset, user.email, code, 4)
    code = await forgot(user.email, 3)
    await guessWrong(reset, user.email, code, 5)
    code = await forgot(user.email, 4)
    expect((await reset(user.email, code)).statusCode).toBe(204)
    // Still 9 wrong tries in the hour, so one more code may be tried.
    t.clock.advance(15 * MINUTE)
    code = await forgot(user.email, 5)
    expect((await reset(user.email, code)).statusCode).toBe(204)
  })

  it('counts only tries checked against a live code', async () => {
    const email = uniqueEmail()
    let { code } = await signup(t, email)
    await guessWrong(verify, email, code, 5) // burns the code: 5 counted
    await guessWrong(verify, email, code, 10) // a burned code is not checked
    code = await resend(email, 2)
    t.clock.advance(t.config.codeTtlMs + 1_000)
    await guessWrong(verify, email, code, 10) // nor is an expired one
    code = await resend(email, 3)
    await guessWrong(verify, email, code, 4)
    expect((await verify(email, code)).statusCode).toBe(200)

    // A reset code never asked for: nothing to check, nothing counted.
    await guessWrong(reset, email, '123456', 20)
    code = await forgot(email, 4)
    await guessWrong(reset, email, code, 4)
    code = await forgot(email, 5)
    await guessWrong(reset, email, code, 5)
    expect((await reset(email, await forgot(email, 6))).statusCode).toBe(204)
  })

  it('keeps each purpose its own budget', async () => {
    const email = uniqueEmail()
    let { code } = await signup(t, email)
    await guessWrong(verify, email, code, 5)
    code = await resend(email, 2)
    await guessWrong(verify, email, code, 5)
    code = await resend(email, 3)
    expect((await verify(email, code)).json()).toEqual(invalidCode)
    // The reset code proves the address all the same.
    expect((await reset(email, await forgot(email, 4))).statusCode).toBe(204)
    await login(t, email, NEW_PASSWORD)
  })

  it('keeps a lock-out through a cleanup round, and the cleanup purges it after the hour', async () => {
    const email = uniqueEmail()
    const { id, code: first } = await signup(t, email)
    await guessWrong(verify, email, first, 5)
    await guessWrong(verify, email, await resend(email, 2), 5)
    const tenthAt = t.clock.now().getTime()
    const cleanup = () =>
      runCleanup({ repositories: createRepositories(t.db), config: t.config, clock: t.clock })

    t.clock.set(new Date(tenthAt + 20 * MINUTE)) // the code has expired
    await cleanup()
    const code = await resend(email, 3)
    expect((await verify(email, code)).json()).toEqual(invalidCode)

    t.clock.set(new Date(tenthAt + HOUR + 20 * MINUTE))
    await cleanup()
    const rows = await t.db
      .select()
      .from(oneTimeCodes)
      .where(and(eq(oneTimeCodes.userId, id), eq(oneTimeCodes.purpose, 'verify_email')))
    expect(rows).toEqual([])
    expect((await verify(email, await resend(email, 4))).statusCode).toBe(200)
  })
})

describe('parallel wrong guesses', () => {
  let t: TestApp
  beforeAll(async () => {
    // Codes that outlive the lock-out, so its end shows how many tries each code has had.
    t = await createTestApp({ CODE_TTL: '2h' })
  })
  afterAll(() => t.close())
  const { verify, resend, guessWrong } = flows(() => t)

  it('never exceed the budget: of 10 at once with 2 tries left, exactly 2 are counted', async () => {
    const email = uniqueEmail('race')
    const { code: first } = await signup(t, email)
    await guessWrong(verify, email, first, 4)
    await guessWrong(verify, email, await resend(email, 2), 4)
    const code = await resend(email, 3)
    const guesses = await Promise.all(
      Array.from({ length: 10 }, () => verify(email, otherCode(code))),
    )
    for (const guess of guesses) expect(guess.json()).toEqual(invalidCode)
    expect((await verify(email, code)).json()).toEqual(invalidCode)

    // After the hour, this code has had 2 tries: 2 more wrong ones and the 5th is right.
    t.clock.advance(HOUR)
    await guessWrong(verify, email, code, 2)
    expect((await verify(email, code)).statusCode).toBe(200)
  })
})
