/**
 * A typed client of the Coffee Shop API, the way an application would use it: the types in
 * ./api.d.ts are generated from the OpenAPI document (`npm run client:types`), and
 * openapi-fetch checks every path, body and response against them at compile time.
 *
 * Run it against a server (the code is e-mailed, or printed in the server log without SMTP):
 *   node --import tsx examples/client.ts http://localhost:8000 ana@example.com 'a long passphrase'
 */
import { stdin, stdout } from 'node:process'
import { createInterface } from 'node:readline/promises'
import { pathToFileURL } from 'node:url'
import createClient from 'openapi-fetch'
import type { components, paths } from './api.js'

/** The document names every shape, so the client's types have names too. */
type Schemas = components['schemas']
export type User = Schemas['User']
export type TokenPair = Schemas['TokenPair']

export interface Account {
  email: string
  password: string
  fullName?: string
}

export interface ClientFlowOptions {
  baseUrl: string
  account: Account
  /** Returns the 6-digit code e-mailed to `email` (from an inbox, a log, or a person). */
  getCode(email: string): Promise<string>
}

export interface ClientFlowResult {
  signedUp: User
  verified: User
  login: TokenPair
  refreshed: TokenPair
  me: User
}

/** The error body the API sends: `{detail, code}`, `detail` a list for validation errors. */
type ErrorBody = Schemas['ErrorBody'] | Schemas['ValidationErrorBody']

/** Turns a non-2xx answer into an exception that names the step and the API's error code. */
function check<T>(
  step: string,
  result: { data?: T; error?: ErrorBody; response: Response },
): NonNullable<T> {
  if (result.error !== undefined || result.data === undefined || result.data === null) {
    const { status } = result.response
    const detail = result.error?.detail
    const text = typeof detail === 'string' ? detail : JSON.stringify(detail)
    throw new Error(`${step} failed: ${status} ${result.error?.code ?? 'no_body'}: ${text}`)
  }
  return result.data
}

/** Sign up, verify with the e-mailed code, log in, refresh, and read `/users/me`. */
export async function runClientFlow({
  baseUrl,
  account,
  getCode,
}: ClientFlowOptions): Promise<ClientFlowResult> {
  const api = createClient<paths>({ baseUrl })
  const { email, password } = account

  const signedUp = check(
    'sign-up',
    await api.POST('/v1/auth/signup', {
      body: { email, password, full_name: account.fullName ?? null },
    }),
  )
  const code = await getCode(email)
  const verified = check('verify', await api.POST('/v1/auth/verify', { body: { email, code } }))
  const login = check('login', await api.POST('/v1/auth/login', { body: { email, password } }))
  const refreshed = check(
    'refresh',
    await api.POST('/v1/auth/refresh', { body: { refresh_token: login.refresh_token } }),
  )
  const me = check(
    'read /v1/users/me',
    await api.GET('/v1/users/me', {
      headers: { Authorization: `Bearer ${refreshed.access_token}` },
    }),
  )
  return { signedUp, verified, login, refreshed, me }
}

async function promptForCode(email: string): Promise<string> {
  const prompt = createInterface({ input: stdin, output: stdout, terminal: false })
  try {
    stdout.write(`6-digit code e-mailed to ${email}: `)
    const line = await prompt[Symbol.asyncIterator]().next()
    return typeof line.value === 'string' ? line.value.trim() : ''
  } finally {
    prompt.close()
  }
}

async function main(argv: string[]) {
  const [baseUrl, email, password, fullName] = argv
  if (!baseUrl || !email || !password) {
    console.error('usage: examples/client.ts <base-url> <email> <password> [full name]')
    process.exit(2)
  }
  const { me } = await runClientFlow({
    baseUrl,
    account: { email, password, fullName },
    getCode: promptForCode,
  })
  // Tokens stay in memory: printing them would put credentials in terminals and logs.
  stdout.write(`\nsigned in as:\n${JSON.stringify(me, null, 2)}\n`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  })
}
