import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newId } from '../../src/core/ids.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { makeUser } from '../helpers/factories.js'

/**
 * An issued access token checked by OpenSSL, with the public key rebuilt from the JWK the
 * API publishes: no code of this project (nor jose, nor Node's JWK import) takes part in
 * the check. vitest.config.ts leaves this file out where openssl is missing (not in CI).
 */
const run = promisify(execFile)
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jwks-openssl-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const hex = (base64url: string) => Buffer.from(base64url, 'base64url').toString('hex')

/** Runs openssl; resolves to its output, or to the failure with its exit status. */
const openssl = (...args: string[]) =>
  run('openssl', args, { cwd: dir }).then(
    ({ stdout }) => ({ ok: true, output: stdout }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      ok: false,
      output: `${error.stdout}${error.stderr}`,
    }),
  )

/** Writes an ASN.1 structure described in OpenSSL's generator syntax, as DER. */
async function derFromConfig(name: string, config: string): Promise<string> {
  await writeFile(join(dir, `${name}.cnf`), config)
  const made = await openssl('asn1parse', '-genconf', `${name}.cnf`, '-out', `${name}.der`)
  expect(made.ok, made.output).toBe(true)
  return `${name}.der`
}

interface Jwk {
  kty: string
  crv: string
  kid: string
  x: string
  y?: string
}

/** The JWK as a PEM public key (SubjectPublicKeyInfo), built field by field. */
async function pemFromJwk(jwk: Jwk): Promise<string> {
  const ec = jwk.kty === 'EC'
  const point = ec ? `04${hex(jwk.x)}${hex(jwk.y ?? '')}` : hex(jwk.x)
  const algorithm = ec ? 'oid=OID:id-ecPublicKey\ncurve=OID:prime256v1' : 'oid=OID:ED25519'
  const der = await derFromConfig(
    `spki-${jwk.kid}`,
    `asn1=SEQUENCE:spki\n[spki]\nalgorithm=SEQUENCE:alg\nkey=FORMAT:HEX,BITSTRING:${point}\n[alg]\n${algorithm}\n`,
  )
  const pem = `${jwk.kid}.pem`
  const converted = await openssl('pkey', '-pubin', '-inform', 'DER', '-in', der, '-out', pem)
  expect(converted.ok, converted.output).toBe(true)
  return pem
}

/** Checks a compact JWS with openssl alone; ES256's r‖s becomes the DER pair openssl reads. */
async function opensslVerifies(token: string, jwk: Jwk): Promise<{ ok: boolean; output: string }> {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const input = join(dir, `input-${newId()}`)
  await writeFile(input, `${header}.${payload}`)
  const pem = await pemFromJwk(jwk)
  const raw = Buffer.from(signature, 'base64url')
  if (jwk.kty === 'EC') {
    const r = raw.subarray(0, 32).toString('hex')
    const s = raw.subarray(32).toString('hex')
    const der = await derFromConfig(
      `sig-${newId()}`,
      `asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x${r}\ns=INTEGER:0x${s}\n`,
    )
    return openssl('dgst', '-sha256', '-verify', pem, '-signature', der, input)
  }
  const sig = join(dir, `sig-${newId()}`)
  await writeFile(sig, raw)
  return openssl(
    'pkeyutl',
    '-verify',
    '-pubin',
    '-inkey',
    pem,
    '-rawin',
    '-in',
    input,
    '-sigfile',
    sig,
  )
}

describe.each([
  ['ES256', 'Verified OK'],
  ['EdDSA', 'Signature Verified Successfully'],
])('openssl verifies a %s access token with the published JWK', (algorithm, verified) => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ JWT_ALGORITHM: algorithm })
  })
  afterAll(() => t.close())

  it('accepts the token as issued, and refuses it altered', async () => {
    const user = await makeUser(t)
    const { token } = t.services.tokens.issueAccessToken(user, newId())
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())
    expect(header).toMatchObject({ alg: algorithm, typ: 'at+jwt' })
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    const jwk = jwks.keys.find((key: Jwk) => key.kid === header.kid)
    expect(jwk).toMatchObject({ alg: algorithm, use: 'sig' })

    const good = await opensslVerifies(token, jwk)
    expect(good).toEqual({ ok: true, output: expect.stringContaining(verified) })

    // One claim changed (role), the signature kept: openssl must refuse it.
    const [h, p, s] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const forged = Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url')
    const bad = await opensslVerifies(`${h}.${forged}.${s}`, jwk)
    expect(bad.ok).toBe(false)
    expect(bad.output).not.toContain(verified)

    // And the other published key (the next one) did not sign it.
    const other = jwks.keys.find((key: Jwk) => key.kid !== header.kid)
    expect((await opensslVerifies(token, other)).ok).toBe(false)
  })
})
