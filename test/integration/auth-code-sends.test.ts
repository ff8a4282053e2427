import { eq } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { users } from '../../src/db/schema.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import {
  codeUnlike,
  invalidCode,
  otherCode,
  postJson,
  signup,
  uniqueEmail,
  verifiedUser,
} from '../helpers/auth-flow.js'
import { codeFrom } from '../helpers/smtp.js'

const MINUTE = 60_000
const ACCEPTED = { detail: 'If the account exists, an e-mail is on its way' }

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
})
afterAll(() => t.close())

const resend = (email: string) => postJson(t, '/auth/verify/resend', { email })
const forgot = (email: string) => postJson(t, '/auth/password/forgot', { email })
const verify = (email: string, code: string) => postJson(t, '/auth/verify', { email, code })

/**
 * Waits for a message to another address, sent after the requests under test: any message
 * those requests had sent would have had its chance to arrive by then.
 */
async function afterPendingMail() {
  await signup(t, uniqueEmail('later'))
}

/** What a client sees of an answer: status, headers but those unique to each, body. */
function visible(response: LightMyRequestResponse) {
  const { date: _date, 'x-request-id': _id, ...headers } = response.headers
  return { status: response.statusCode, headers, body: response.body }
}

const codeOf = async (email: string, nth: number) =>
  codeFrom(await t.inbox.waitForMessage(email, nth))

describe('codes sent per address and purpose', () => {
  it('sends at most 3 in 15 minutes, sign-up included; the rest get the same 202 and send nothing', async () => {
    const email = uniqueEmail()
    await signup(t, email)
    const sent = await resend(email)
    await t.inbox.waitForMessage(email, 2)
    const answers = [sent]
    for (let i = 0; i < 4; i++) answers.push(await resend(email))
    await afterPendingMail()

    expect(t.inbox.messagesTo(email)).toHaveLength(3)
    expect(sent.statusCode).toBe(202)
    expect(sent.json()).toEqual(ACCEPTED)
    for (const answer of answers) expect(visible(answer)).toEqual(visible(sent))
    // The last code sent was not replaced by the requests that sent nothing.
    expect((await verify(email, await codeOf(email, 3))).statusCode).toBe(200)
  })

  it('counts any 15 minutes: a send frees its place 15 minutes after it was made', async () => {
    const email = uniqueEmail()
    const start = t.clock.now().getTime()
    const at = (minutes: number) => t.clock.set(new Date(start + minutes * MINUTE))
    await signup(t, email)
    at(5)
    await resend(email)
    at(10)
    await resend(email)
    await t.inbox.waitForMessage(email, 3)
    at(14)
    await resend(email) // 3 in the last 15 minutes: nothing sent
    at(15)
    await resend(email) // the sign-up code's place is free
    await t.inbox.waitForMessage(email, 4)
    at(16)
    await resend(email)
    await afterPendingMail()
    expect(t.inbox.messagesTo(email)).toHaveLength(4)
    expect((await verify(email, await codeOf(email, 4))).statusCode).toBe(200)
  })

  it('throttles reset codes on their own, also when asked for in parallel', async () => {
    const user = await verifiedUser(t) // its verification code does not count for resets
    const answers = await Promise.all(Array.from({ length: 10 }, () => forgot(user.email)))
    for (const answer of answers) {
      expect(answer.statusCode).toBe(202)
      expect(answer.json()).toEqual(ACCEPTED)
    }
    await t.inbox.waitForMessage(user.email, 4)
    await afterPendingMail()
    expect(t.inbox.messagesTo(user.email)).toHaveLength(4)
  })

  it('always sends the sign-up code, which counts', async () => {
    const email = uniqueEmail()
    const { id } = await signup(t, email)
    await resend(email)
    await resend(email)
    await t.inbox.waitForMessage(email, 3)
    // The account goes (an admin deleted it); the address signs up again at once.
    await t.db.delete(users).where(eq(users.id, id))
    await signup(t, email, undefined, 4)
    await resend(email)
    await afterPendingMail()
    expect(t.inbox.messagesTo(email)).toHaveLength(4)
    expect((await verify(email, await codeOf(email, 4))).statusCode).toBe(200)
  })
})

describe('sending the verification code again', () => {
  it('mails a new code that replaces the old one', async () => {
    const email = uniqueEmail()
    const { code: first } = await signup(t, email)
    let sent = 1
    const second = await codeUnlike(first, async () => {
      const response = await resend(email)
      expect(response.statusCode).toBe(202)
      expect(response.json()).toEqual(ACCEPTED)
      return codeFrom(await t.inbox.waitForMessage(email, ++sent))
    })
    expect((await postJson(t, '/auth/verify', { email, code: first })).json()).toEqual(invalidCode)
    expect((await postJson(t, '/auth/verify', { email, code: second })).statusCode).toBe(200)
  })

  it("gives a fresh code its own 5 tries, but not a fresh hour's 10", async () => {
    const guessFive = async (email: string, code: string) => {
      for (let i = 0; i < 5; i++) {
        expect(
          (await postJson(t, '/auth/verify', { email, code: otherCode(code) })).json(),
        ).toEqual(invalidCode)
      }
    }
    const nextCode = async (email: string, nth: number) => {
      await resend(email)
      return codeFrom(await t.inbox.waitForMessage(email, nth))
    }
    // 5 wrong tries burn the first code; the next one still works.
    const burned = uniqueEmail()
    await guessFive(burned, (await signup(t, burned)).code)
    expect(
      (await postJson(t, '/auth/verify', { email: burned, code: await nextCode(burned, 2) }))
        .statusCode,
    ).toBe(200)
    // 10 wrong tries across two codes: a third code is refused, right as it is.
    const guessed = uniqueEmail()
    await guessFive(guessed, (await signup(t, guessed)).code)
    await guessFive(guessed, await nextCode(guessed, 2))
    const third = await postJson(t, '/auth/verify', {
      email: guessed,
      code: await nextCode(guessed, 3),
    })
    expect(third.statusCode).toBe(400)
    expect(third.json()).toEqual(invalidCode)
  })

  it('answers 202 for unknown and verified addresses and sends them nothing', async () => {
    const unknown = uniqueEmail('nobody')
    const verified = uniqueEmail('verified')
    const { code } = await signup(t, verified)
    await postJson(t, '/auth/verify', { email: verified, code })
    const pending = uniqueEmail('pending')
    await signup(t, pending)

    for (const email of [unknown, verified]) {
      const response = await resend(email)
      expect(response.statusCode).toBe(202)
      expect(response.json()).toEqual(ACCEPTED)
    }
    // A later message that does arrive shows the earlier requests had their chance to send.
    await resend(pending)
    await t.inbox.waitForMessage(pending, 2)
    expect(t.inbox.messagesTo(unknown)).toHaveLength(0)
    expect(t.inbox.messagesTo(verified)).toHaveLength(1)
  })
})
