import { describe, expect, it, vi } from 'vitest'
import { createTestClock, TEST_SECRET } from '../helpers/app.js'
import { PASSWORD } from '../helpers/auth-flow.js'
import { makeUser } from '../helpers/factories.js'
import {
  accessToken,
  HOURLY_RELOAD,
  instance,
  kidIn,
  me,
  PUSHED_WITHIN,
  published,
  rows,
  sharedDatabase,
  signingKid,
} from '../helpers/key-instances.js'

// Two instances with different SECRET_KEYs on one database: a rotation by the one that
// cannot open the current key is refused unless the change of secret is meant (reseal).

describe('rotating with another SECRET_KEY', () => {
  it('is refused, unless SECRET_KEY was changed on purpose (reseal)', async () => {
    const [databaseA, databaseB] = await sharedDatabase()
    const clock = createTestClock()
    const old = await instance(databaseA, HOURLY_RELOAD, { clock })
    const renewed = await instance(
      databaseB,
      { ...HOURLY_RELOAD, SECRET_KEY: `${TEST_SECRET}-renewed` },
      { clock },
    )
    const user = await makeUser(databaseA.db, { password: PASSWORD })
    const before = await rows(databaseA)
    // A slip (the CLI run with another .env) must not leave keys the instances cannot open.
    await expect(renewed.services.signingKeys.rotate()).rejects.toThrow(
      `this process's SECRET_KEY cannot open the current signing key ${kidIn('current', before)}`,
    )
    expect(await rows(databaseA)).toEqual(before)
    expect(() => renewed.services.keyStore.signer()).toThrow('cannot be issued')

    const rotation = await renewed.services.signingKeys.rotate({ reseal: true })
    const after = await rows(databaseA)
    // Neither old key (sealed under the old secret) signs again; both stay published.
    expect(after[kidIn('current', before) ?? '']?.state).toBe('retired')
    expect(after[kidIn('next', before) ?? '']?.state).toBe('retired')
    expect(Object.keys(before)).not.toContain(rotation.current)
    await vi.waitFor(() => expect(signingKid(renewed)).toBe(rotation.current), PUSHED_WITHIN)
    const token = await accessToken(renewed, user.email)
    // The instance still on the old secret verifies the new key's tokens, but cannot sign.
    await vi.waitFor(() => expect(published(old)).toContain(rotation.current), PUSHED_WITHIN)
    expect((await me(old, token)).statusCode).toBe(200)
    const ready = await old.app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(503)
  })
})
