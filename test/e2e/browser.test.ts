import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { authHeaders, type MadeUser, makeUser } from '../helpers/factories.js'
import { codeFrom } from '../helpers/smtp.js'
import { enrolTotp } from '../helpers/totp.js'

/**
 * Swagger UI and ReDoc as a person uses them: Debian's Chromium, headless, against the real
 * app listening on a local port. Every request the pages make is recorded, to prove that
 * nothing leaves the machine: a request to another host must be stopped by the page's CSP
 * inside the browser (ReDoc's bundle asks for a logo on its CDN), never reach the network.
 */
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = 'test-results'
const EMAIL = 'browser.user@example.com'
const PASSWORD = 'a long and unusual passphrase'
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost'])

let t: TestApp
/** An account with two-factor authentication on. */
let mfaUser: MadeUser
let baseUrl: string
let profileDir: string
let context: BrowserContext
/** Requests to other hosts, by URL: `pending`, `finished`, or Chromium's failure (`csp`). */
const foreignRequests = new Map<string, string>()
/** Requests to other hosts that got past the browser's checks onto the network. */
const networkAttempts: string[] = []

const isForeign = (address: string) => {
  const url = new URL(address)
  return !['data:', 'blob:'].includes(url.protocol) && !LOCAL_HOSTS.has(url.hostname)
}

async function expectNothingLeftTheMachine() {
  await expect
    .poll(() => [...foreignRequests.values()].filter((state) => state === 'pending'))
    .toEqual([])
  const notBlocked = [...foreignRequests].filter(([, state]) => state !== 'csp')
  expect(notBlocked).toEqual([])
  expect(networkAttempts).toEqual([])
}

async function createVerifiedUser() {
  const signup = await t.app.inject({
    method: 'POST',
    url: '/auth/signup',
    payload: { email: EMAIL, password: PASSWORD, full_name: 'Browser User' },
  })
  expect(signup.statusCode).toBe(201)
  const code = codeFrom(await t.inbox.waitForMessage(EMAIL, 1, 30_000))
  const verify = await t.app.inject({
    method: 'POST',
    url: '/auth/verify',
    payload: { email: EMAIL, code },
  })
  expect(verify.statusCode).toBe(200)
}

async function newPage(): Promise<Page> {
  const page = await context.newPage()
  page.on('request', (request) => {
    if (isForeign(request.url())) foreignRequests.set(request.url(), 'pending')
  })
  page.on('requestfailed', (request) => {
    if (isForeign(request.url()))
      foreignRequests.set(request.url(), request.failure()?.errorText ?? 'failed')
  })
  page.on('requestfinished', (request) => {
    if (isForeign(request.url())) foreignRequests.set(request.url(), 'finished')
  })
  return page
}

beforeAll(async () => {
  t = await createTestApp()
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = t.app.server.address() as AddressInfo
  baseUrl = `http://127.0.0.1:${port}`
  await createVerifiedUser()
  mfaUser = await makeUser(t)
  await enrolTotp(t, await authHeaders(t, mfaUser), mfaUser.password)
  mkdirSync(SCREENSHOTS, { recursive: true })
  profileDir = mkdtempSync(join(tmpdir(), 'coffee-chromium-'))
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  })
  // Only what the browser really sends reaches a route handler: record it and cut it off.
  await context.route(
    (url) => isForeign(url.href),
    (route) => {
      networkAttempts.push(route.request().url())
      return route.abort()
    },
  )
})

afterAll(async () => {
  await context?.close()
  if (profileDir) rmSync(profileDir, { recursive: true, force: true })
  await t?.close()
})

describe('Swagger UI at /docs', () => {
  it('authorizes through the OAuth2 password form and runs GET /users/me', async () => {
    const page = await newPage()
    await page.goto(`${baseUrl}/docs`)
    await expect
      .poll(() => page.locator('.swagger-ui .info .title').textContent())
      .toContain('Coffee Shop API')

    await page.locator('.scheme-container button.authorize').click()
    const dialog = page.locator('.dialog-ux .modal-ux')
    await dialog.locator('#oauth_username').fill(EMAIL)
    await dialog.locator('#oauth_password').fill(PASSWORD)
    await dialog.locator('.auth-btn-wrapper button.authorize').click()
    // Swagger UI swaps Authorize for Logout once the token endpoint answered 200.
    await dialog.locator('.auth-btn-wrapper button.btn-done').waitFor()
    await expect.poll(() => dialog.locator('.auth-btn-wrapper').textContent()).toContain('Logout')
    await expect.poll(() => dialog.textContent()).toContain('Authorized')
    await page.screenshot({ path: join(SCREENSHOTS, 'docs-authorized.png') })
    await dialog.locator('.auth-btn-wrapper button.btn-done').click()

    const operation = page.locator('.opblock').filter({
      has: page.locator('.opblock-summary-path[data-path="/v1/users/me"]'),
    })
    await operation.locator('.opblock-summary').click()
    const tryOut = operation.locator('button.try-out__btn')
    if ((await tryOut.textContent())?.includes('Try it out')) await tryOut.click()
    await operation.locator('button.execute').click()

    const response = operation.locator('.live-responses-table tbody tr.response')
    await response.waitFor()
    expect((await response.locator('.response-col_status').textContent())?.trim()).toBe('200')
    expect(await response.locator('.response-col_description pre').first().textContent()).toContain(
      `"email": "${EMAIL}"`,
    )
    // The request Swagger UI shows (as curl) carried the token from the login form.
    await expect
      .poll(() => operation.locator('.curl-command').textContent())
      .toContain('Authorization: Bearer ey')
    await operation.screenshot({ path: join(SCREENSHOTS, 'docs-users-me.png') })
    await page.close()
    await expectNothingLeftTheMachine()
  }, 90_000)
})

describe('Swagger UI with two-factor authentication', () => {
  it('answers the Authorize form of an MFA account with mfa_required, shown in the dialog', async () => {
    const page = await newPage()
    await page.goto(`${baseUrl}/docs`)
    await page.locator('.scheme-container button.authorize').click()
    const dialog = page.locator('.dialog-ux .modal-ux')
    // The profile may remember the first test's login: log that one out first.
    await dialog.locator('.auth-btn-wrapper').waitFor()
    const logout = dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' })
    if ((await logout.count()) > 0) await logout.click()
    await dialog.locator('#oauth_username').fill(mfaUser.email)
    await dialog.locator('#oauth_password').fill(mfaUser.password)
    const login = page.waitForResponse(
      (response) =>
        response.url().endsWith('/auth/login') && response.request().method() === 'POST',
    )
    await dialog.locator('.auth-btn-wrapper button.authorize').click()
    const answer = await login
    expect(answer.status()).toBe(401)
    expect(await answer.json()).toMatchObject({
      code: 'mfa_required',
      mfa_token: expect.any(String),
      error: 'mfa_required',
    })
    // Swagger UI shows OAuth2's `error` and `error_description` of a refused token request.
    await expect.poll(() => dialog.locator('.errors').textContent()).toContain('mfa_required')
    await expect
      .poll(() => dialog.locator('.errors').textContent())
      .toContain('POST /auth/mfa/verify')
    // Not signed in: the dialog still offers Authorize, not Logout.
    expect(await dialog.locator('.auth-btn-wrapper').textContent()).toContain('Authorize')
    await page.screenshot({ path: join(SCREENSHOTS, 'docs-mfa-required.png') })
    await page.close()
    await expectNothingLeftTheMachine()
  }, 90_000)
})

describe('ReDoc at /redoc', () => {
  it('renders the auth and users sections with their operations', async () => {
    const page = await newPage()
    await page.goto(`${baseUrl}/redoc`)
    for (const tag of ['auth', 'users']) {
      const section = page.locator(`[data-section-id="tag/${tag}"]`).first()
      await section.waitFor()
      expect((await section.locator('h2').first().textContent())?.trim()).toBe(tag)
    }
    for (const id of ['signup', 'login', 'refresh', 'getMe', 'listUsers', 'updateUser']) {
      await page.locator(`[data-section-id="operation/${id}"]`).first().waitFor()
    }
    const login = page.locator('[data-section-id="operation/login"]').first()
    expect((await login.locator('h2').first().textContent())?.trim()).toBe('Log in')
    await page.screenshot({ path: join(SCREENSHOTS, 'redoc.png') })
    await page.close()
    await expectNothingLeftTheMachine()
  }, 60_000)
})
