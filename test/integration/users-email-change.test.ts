import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRepositories } from '../../src/repositories/index.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { auditProbe } from '../helpers/audit.js'
import { invalidCode, otherCode, postJson, signup } from '../helpers/auth-flow.js'
import {
  emailChangeFlows,
  nextAddress,
  WRONG_CURRENT_PASSWORD,
  WRONG_PASSWORD,
} from '../helpers/email-change.js'
import { makeUser, NEW_PASSWORD, uniqueEmail } from '../helpers/factories.js'
import { failingInTransaction, servicesOver } from '../helpers/failing-repositories.js'
import { INVALID_CREDENTIALS, loginFrom } from '../helpers/limits.js'
import { codeFrom } from '../helpers/smtp.js'

const MINUTE = 60_000
const EMAIL_TAKEN = { detail: 'Email already registered', code: 'email_taken' }

describe('changing one’s own e-mail address', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())
  const { requestChange, confirm, me, codeFor, newSessions } = emailChangeFlows(() => t)
  const { eventsOf } = auditProbe(() => t)

  it('changes nothing until the code from the new address is confirmed; then the old address is told', async () => {
    const user = await makeUser(t)
    const newEmail = uniqueEmail('moved')

    const requested = await requestChange(user, `  ${newEmail.toUpperCase()} `)
    expect(requested.statusCode).toBe(202)
    expect(requested.json()).toEqual({ detail: 'A code is on its way to the new address' })
    const mail = await t.inbox.waitForMessage(newEmail)
    expect(mail.subject).toBe('Confirm your new Coffee Shop e-mail address')
    const code = codeFrom(mail)

    // Nothing has changed yet: the old address is still the login, the new one is not.
    expect(await me(user)).toMatchObject({ email: user.email })
    expect((await loginFrom(t, nextAddress(), user.email, user.password)).statusCode).toBe(200)
    expect((await loginFrom(t, nextAddress(), newEmail, user.password)).json()).toEqual(
      INVALID_CREDENTIALS,
    )
    expect(t.inbox.messagesTo(user.email)).toEqual([])

    const confirmed = await confirm(user, code)
    expect(confirmed.statusCode).toBe(200)
    expect(confirmed.json()).toMatchObject({ id: user.id, email: newEmail, is_verified: true })
    expect(await me(user)).toMatchObject({ email: newEmail })

    const notice = await t.inbox.waitForMessage(user.email)
    expect(notice.subject).toBe('Your Coffee Shop e-mail address was changed')
    const masked = `m\u2022\u2022\u2022@example.com`
    expect(notice.text).toContain(`was changed to ${masked}.`)
    expect(notice.text).toContain("If this wasn't you")
    expect(notice.html).toContain(masked)
    for (const part of [notice.text, notice.html]) {
      expect(part).not.toContain(newEmail)
      expect(part).not.toContain(code)
      expect(part).not.toMatch(/\d{6}/)
    }

    // The new address logs in; the old one no longer does.
    expect((await loginFrom(t, nextAddress(), newEmail, user.password)).statusCode).toBe(200)
    expect((await loginFrom(t, nextAddress(), user.email, user.password)).json()).toEqual(
      INVALID_CREDENTIALS,
    )
    // The code is used up.
    expect((await confirm(user, code)).json()).toEqual(invalidCode)

    // Both steps are in the audit log, by the user, the addresses masked, no code.
    const requestedEvents = await eventsOf('email.change_requested', user.id)
    const changedEvents = await eventsOf('email.changed', user.id)
    expect(requestedEvents).toEqual([
      expect.objectContaining({ actorId: user.id, details: { new_email: masked } }),
    ])
    expect(changedEvents).toEqual([
      expect.objectContaining({
        actorId: user.id,
        details: { old_email: `u\u2022\u2022\u2022@example.com`, new_email: masked },
      }),
    ])
    for (const event of [...requestedEvents, ...changedEvents]) {
      const text = JSON.stringify(event)
      for (const secret of [newEmail, user.email, code, user.password]) {
        expect(text).not.toContain(secret)
      }
    }
  })

  it('refuses a wrong current_password with 422 invalid_credentials, before telling whether the address is taken', async () => {
    const user = await makeUser(t)
    const other = await makeUser(t)
    const newEmail = uniqueEmail('unsent')
    for (const target of [newEmail, other.email]) {
      const response = await requestChange(user, target, WRONG_PASSWORD)
      expect(response.statusCode).toBe(422)
      expect(response.json()).toEqual(WRONG_CURRENT_PASSWORD)
    }
    const taken = await requestChange(user, other.email.toUpperCase())
    expect(taken.statusCode).toBe(409)
    expect(taken.json()).toEqual(EMAIL_TAKEN)
    // Nothing was sent to either address, and nothing changed.
    await codeFor(user, uniqueEmail('later'))
    expect(t.inbox.messagesTo(newEmail)).toEqual([])
    expect(t.inbox.messagesTo(other.email)).toEqual([])
    expect(await me(user)).toMatchObject({ email: user.email })
    // Only the accepted request is in the audit log.
    expect(await eventsOf('email.change_requested', user.id)).toHaveLength(1)
  })

  it('refuses the current address, a malformed one, and a missing token', async () => {
    const user = await makeUser(t)
    const same = await requestChange(user, user.email.toUpperCase())
    expect(same.statusCode).toBe(422)
    expect(same.json().detail).toEqual([
      expect.objectContaining({ loc: ['body', 'new_email'], type: 'value_error' }),
    ])
    const malformed = await requestChange(user, 'not-an-address')
    expect(malformed.statusCode).toBe(422)
    expect(malformed.json().detail).toEqual([
      expect.objectContaining({ loc: ['body', 'new_email'] }),
    ])
    const anonymous = await postJson(t, '/users/me/email', {
      new_email: uniqueEmail(),
      current_password: user.password,
    })
    expect(anonymous.statusCode).toBe(401)
    expect((await postJson(t, '/users/me/email/confirm', { code: '123456' })).statusCode).toBe(401)
  })

  it('applies only the latest request: a replaced code, and another user’s code, are invalid_code', async () => {
    const user = await makeUser(t)
    const stranger = await makeUser(t)
    const first = uniqueEmail('first')
    const second = uniqueEmail('second')
    const firstCode = await codeFor(user, first)
    const secondCode = await codeFor(user, second)
    expect((await confirm(stranger, secondCode)).json()).toEqual(invalidCode)
    expect((await confirm(user, firstCode)).json()).toEqual(invalidCode)
    expect(await me(stranger)).toMatchObject({ email: stranger.email })

    const confirmed = await confirm(user, secondCode)
    expect(confirmed.statusCode).toBe(200)
    expect(confirmed.json()).toMatchObject({ email: second })
    expect(t.inbox.messagesTo(first)).toHaveLength(1)
  })

  it('answers 409 at confirm when the address was registered meanwhile, and ends the pending change', async () => {
    const user = await makeUser(t)
    const newEmail = uniqueEmail('contested')
    const code = await codeFor(user, newEmail)
    await signup(t, newEmail)
    const response = await confirm(user, code)
    expect(response.statusCode).toBe(409)
    expect(response.json()).toEqual(EMAIL_TAKEN)
    expect(await me(user)).toMatchObject({ email: user.email })
    expect((await confirm(user, code)).json()).toEqual(invalidCode)
    expect(t.inbox.messagesTo(user.email)).toEqual([])
    expect(await eventsOf('email.changed', user.id)).toEqual([])
  })

  it('lets exactly one of two users confirming the same new address at once have it', async () => {
    const [a, b] = [await makeUser(t), await makeUser(t)]
    const newEmail = uniqueEmail('raced')
    const codeA = await codeFor(a, newEmail, 1)
    const codeB = await codeFor(b, newEmail, 2)
    const answers = await Promise.all([confirm(a, codeA), confirm(b, codeB)])
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 409])
    const winner = answers[0]?.statusCode === 200 ? a : b
    const loser = winner === a ? b : a
    expect(await me(winner)).toMatchObject({ email: newEmail })
    expect(await me(loser)).toMatchObject({ email: loser.email })
    expect((await loginFrom(t, nextAddress(), newEmail, winner.password)).statusCode).toBe(200)
  })

  it('burns a code after 5 wrong tries, and refuses every code after 10 wrong tries in an hour', async () => {
    const user = await makeUser(t)
    const newEmail = uniqueEmail('guessed')
    const guessWrong = async (code: string, count: number) => {
      for (let i = 0; i < count; i++) {
        expect((await confirm(user, otherCode(code))).json()).toEqual(invalidCode)
      }
    }
    let code = await codeFor(user, newEmail, 1)
    await guessWrong(code, 5)
    expect((await confirm(user, code)).json()).toEqual(invalidCode)

    code = await codeFor(user, newEmail, 2)
    await guessWrong(code, 4)
    code = await codeFor(user, newEmail, 3)
    await guessWrong(code, 1)
    const tenthAt = t.clock.now().getTime()
    // The 10th wrong try in the hour: this code has had 1 of its 5, and is refused anyway.
    expect((await confirm(user, code)).json()).toEqual(invalidCode)
    expect(await me(user)).toMatchObject({ email: user.email })

    t.clock.set(new Date(tenthAt + 60 * MINUTE + 1))
    newSessions()
    code = await codeFor(user, newEmail, 4)
    const confirmed = await confirm(user, code)
    expect(confirmed.statusCode).toBe(200)
    expect(confirmed.json()).toMatchObject({ email: newEmail })
  })

  it('sends at most 3 codes per new address in 15 minutes; the last one sent stays valid', async () => {
    const user = await makeUser(t)
    const newEmail = uniqueEmail('quota')
    await codeFor(user, newEmail, 1)
    await codeFor(user, newEmail, 2)
    const third = await codeFor(user, newEmail, 3)
    const fourth = await requestChange(user, newEmail)
    expect(fourth.statusCode).toBe(202)
    // The mail of the third went out after the fourth request's answer, if at all: wait a bit.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(t.inbox.messagesTo(newEmail)).toHaveLength(3)
    expect((await confirm(user, third)).statusCode).toBe(200)
  })

  it('commits the change and its email.changed event together, or neither', async () => {
    const user = await makeUser(t)
    const newEmail = uniqueEmail('rolled-back')
    const code = await codeFor(user, newEmail)
    const injected = failingInTransaction(createRepositories(t.db), 'auditEvents', 'insert', 1, {
      after: true,
    })
    const { emailChange } = servicesOver(t, injected.repositories)
    await expect(emailChange.confirm(user, code)).rejects.toBe(injected.failure)
    expect(injected.calls()).toBe(1)
    expect(await me(user)).toMatchObject({ email: user.email })
    expect(await eventsOf('email.changed', user.id)).toEqual([])
    // Nothing was used up: the same code applies the change.
    expect((await confirm(user, code)).statusCode).toBe(200)
    expect(await eventsOf('email.changed', user.id)).toHaveLength(1)
  })

  it('voids the codes sent to the old address once the change is confirmed', async () => {
    const user = await makeUser(t)
    const forgot = await postJson(t, '/auth/password/forgot', { email: user.email })
    expect(forgot.statusCode).toBe(202)
    const resetCode = codeFrom(await t.inbox.waitForMessage(user.email))
    const newEmail = uniqueEmail('after-reset-request')
    expect((await confirm(user, await codeFor(user, newEmail))).statusCode).toBe(200)

    for (const email of [newEmail, user.email]) {
      const reset = await postJson(t, '/auth/password/reset', {
        email,
        code: resetCode,
        new_password: NEW_PASSWORD,
      })
      expect(reset.json()).toEqual(invalidCode)
    }
    expect((await loginFrom(t, nextAddress(), newEmail, user.password)).statusCode).toBe(200)
  })
})
