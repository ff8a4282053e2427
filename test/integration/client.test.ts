import { spawn } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runClientFlow } from '../../examples/client.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { codeFrom } from '../helpers/smtp.js'

/**
 * The example client (types generated from the OpenAPI document + openapi-fetch) against
 * the real app on a local port, with codes read from the real SMTP inbox. A change to the
 * API that breaks generated clients fails here (at run time) or in `tsc` (at compile time).
 */
let t: TestApp
let baseUrl: string

// Patient: the command-line run starts a process first, and the machine may be busy.
const codeFromInbox = async (email: string) =>
  codeFrom(await t.inbox.waitForMessage(email, 1, 30_000))

beforeAll(async () => {
  t = await createTestApp()
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
})
afterAll(() => t.close())

describe('examples/client.ts', () => {
  it('signs up, verifies, logs in, refreshes and reads /users/me', async () => {
    const email = 'client.user@example.com'
    const result = await runClientFlow({
      baseUrl,
      account: { email: '  Client.User@Example.com ', password: 'typed clients are nice' },
      getCode: (address) => codeFromInbox(address.trim().toLowerCase()),
    })

    expect(result.signedUp).toMatchObject({ email, is_verified: false, full_name: null })
    expect(result.verified).toMatchObject({ id: result.signedUp.id, is_verified: true })
    expect(result.me).toEqual({
      ...result.verified,
      updated_at: expect.any(String),
    })
    expect(result.login.token_type).toBe('bearer')
    expect(result.refreshed.token_type).toBe('bearer')
    expect(result.refreshed.expires_in).toBe(t.config.accessTokenTtlMs / 1000)
    expect(result.refreshed.refresh_token).not.toBe(result.login.refresh_token)
    expect(result.refreshed.access_token).not.toBe(result.login.access_token)

    // The login's refresh token was spent by the client's refresh.
    const replay = await fetch(`${baseUrl}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: result.login.refresh_token }),
    })
    expect(replay.status).toBe(401)
    expect(await replay.json()).toEqual({ detail: expect.any(String), code: 'invalid_token' })
  })

  it("reports the API's error code when a step fails", async () => {
    const account = { email: 'twice@example.com', password: 'typed clients are nice' }
    await runClientFlow({ baseUrl, account, getCode: codeFromInbox })
    await expect(runClientFlow({ baseUrl, account, getCode: codeFromInbox })).rejects.toThrow(
      'sign-up failed: 409 email_taken: Email already registered',
    )
    await expect(
      runClientFlow({
        baseUrl,
        account: { email: 'wrong.code@example.com', password: 'typed clients are nice' },
        getCode: async () => '000000',
      }),
    ).rejects.toThrow(/^verify failed: 400 invalid_code: /)
  })

  it('runs from the command line, reading the code from stdin', async () => {
    const email = 'cli.user@example.com'
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/client.ts', baseUrl, email, 'typed clients are nice', 'Cli'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    let output = ''
    let errors = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))

    try {
      child.stdin.write(`${await codeFromInbox(email)}\n`)
      expect(await exited, errors).toBe(0)
    } finally {
      child.kill() // no-op once it exited; never leave it waiting on stdin
    }
    expect(output).toContain(`6-digit code e-mailed to ${email}: `)
    const printed = JSON.parse(output.slice(output.indexOf('{')))
    expect(printed).toMatchObject({ email, full_name: 'Cli', is_verified: true, role: 'user' })
    expect(output).not.toMatch(/eyJ|refresh_token|access_token/)
  }, 60_000)
})
