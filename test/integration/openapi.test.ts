import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type {
  MediaTypeObject,
  OpenAPI3,
  ParameterObject,
  ResponseObject,
  SchemaObject,
} from 'openapi-typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_TYPES_PATH, renderApiTypes } from '../../examples/generate-types.js'
import { createTestApp, type TestApp } from '../helpers/app.js'
import { CONTRACT } from '../helpers/contract.js'
import { errorShapeProblems, exampleProblems, operations } from '../helpers/openapi.js'

/**
 * The OpenAPI document is the API's public face: Swagger UI, ReDoc and generated clients
 * read it. These tests hold every operation to the same standard, so a new route that
 * forgets its summary, errors, examples or security fails here.
 */
const run = promisify(execFile)
const require = createRequire(import.meta.url)

const BEARER = [{ OAuth2PasswordBearer: [] }]

let t: TestApp
let document: OpenAPI3

/** Served only at their own paths; every other route is listed under `/v1`. */
const UNVERSIONED = /^\/(health|metrics|\.well-known)\b/

beforeAll(async () => {
  t = await createTestApp()
  const response = await t.app.inject({ method: 'GET', url: '/openapi.json' })
  expect(response.statusCode).toBe(200)
  document = response.json()
})
afterAll(() => t.close())

describe('the OpenAPI document', () => {
  it('passes redocly lint (recommended rules)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffee-openapi-'))
    try {
      await writeFile(join(dir, 'openapi.json'), JSON.stringify(document, null, 2))
      await writeFile(join(dir, 'redocly.yaml'), 'extends:\n  - recommended\n')
      // Deliberate exceptions, each pinned to one place so anything new still fails:
      // the document is served by the API itself (clients use the origin they fetched it
      // from), the service is private (no licence), and health, metrics and the published
      // keys and metadata have no client error.
      await writeFile(
        join(dir, '.redocly.lint-ignore.yaml'),
        [
          'openapi.json:',
          '  no-empty-servers:',
          "    - '#/openapi'",
          '  info-license:',
          "    - '#/info'",
          '  operation-4xx-response:',
          "    - '#/paths/~1health~1live/get/responses'",
          "    - '#/paths/~1health~1ready/get/responses'",
          "    - '#/paths/~1metrics/get/responses'",
          "    - '#/paths/~1.well-known~1jwks.json/get/responses'",
          "    - '#/paths/~1.well-known~1oauth-authorization-server/get/responses'",
          '',
        ].join('\n'),
      )
      const cli = require.resolve('@redocly/cli/bin/cli.js')
      const { stdout } = await run(
        process.execPath,
        [cli, 'lint', 'openapi.json', '--format=json'],
        {
          cwd: dir,
          env: {
            ...process.env,
            REDOCLY_TELEMETRY: 'off',
            REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
            DO_NOT_TRACK: '1',
          },
        },
      ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }))
      const report = JSON.parse(stdout) as {
        totals: { errors: number; warnings: number }
        problems: { ruleId: string; message: string; location: { pointer: string }[] }[]
      }
      const problems = report.problems.map(
        (p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`,
      )
      expect(problems).toEqual([])
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('documents every route of the contract, and nothing hidden leaks in', () => {
    const documented = operations(document).map((o) => o.key)
    expect(documented.sort()).toEqual(Object.keys(CONTRACT).sort())
  })

  it('lists the API under /v1 and the operational routes at their own paths only', () => {
    for (const { path, listedAs } of operations(document)) {
      expect(listedAs).toBe(UNVERSIONED.test(path) ? path : `/v1${path}`)
    }
  })

  it('declares the OAuth2 password flow that Swagger UI authorizes with', () => {
    expect(document.openapi).toBe('3.1.0')
    expect(document.components?.securitySchemes?.OAuth2PasswordBearer).toMatchObject({
      type: 'oauth2',
      flows: { password: { tokenUrl: '/v1/auth/login', scopes: {} } },
    })
    const login = operations(document).find((o) => o.key === 'post /auth/login')?.operation
    const body = login?.requestBody as { content: Record<string, MediaTypeObject> }
    expect(Object.keys(body.content).sort()).toEqual([
      'application/json',
      'application/x-www-form-urlencoded',
    ])
  })

  it('gives every operation a summary, a description, one tag, an id and its security', () => {
    const problems: string[] = []
    const ids = new Set<string>()
    for (const { key, path, operation } of operations(document)) {
      const tag = path.startsWith('/auth/')
        ? 'auth'
        : path.startsWith('/users')
          ? 'users'
          : path.startsWith('/.well-known/')
            ? 'keys'
            : path.startsWith('/audit-events')
              ? 'audit'
              : 'operations'
      if (!operation.summary?.trim()) problems.push(`${key}: no summary`)
      if (!operation.description?.trim()) problems.push(`${key}: no description`)
      if (JSON.stringify(operation.tags) !== JSON.stringify([tag]))
        problems.push(`${key}: tags ${JSON.stringify(operation.tags)}, expected ["${tag}"]`)
      if (!operation.operationId) problems.push(`${key}: no operationId`)
      else if (ids.has(operation.operationId)) problems.push(`${key}: duplicate operationId`)
      else ids.add(operation.operationId)
      const expected = CONTRACT[key] === 'bearer' ? BEARER : []
      if (JSON.stringify(operation.security) !== JSON.stringify(expected))
        problems.push(`${key}: security ${JSON.stringify(operation.security)}`)
      if (CONTRACT[key] === 'bearer' && !operation.responses?.['401'])
        problems.push(`${key}: needs a bearer token but documents no 401`)
    }
    expect(problems).toEqual([])
  })

  it('describes every request with a schema and examples that match it', () => {
    const problems: string[] = []
    for (const { key, operation } of operations(document)) {
      const body = operation.requestBody as
        | { required?: boolean; content: Record<string, MediaTypeObject> }
        | undefined
      if (body) {
        if (body.required !== true) problems.push(`${key}: request body not required`)
        for (const [type, media] of Object.entries(body.content)) {
          if (!media.schema) problems.push(`${key} ${type}: no schema`)
          else problems.push(...exampleProblems(document, `${key} request ${type}`, media))
        }
      } else if (['post', 'patch', 'put'].some((m) => key.startsWith(m)))
        problems.push(`${key}: no request body`)
      for (const parameter of (operation.parameters ?? []) as ParameterObject[]) {
        if (!parameter.schema) problems.push(`${key} ${parameter.name}: no schema`)
        if (!parameter.description && !(parameter.schema as SchemaObject)?.description)
          problems.push(`${key} ${parameter.name}: no description`)
      }
    }
    expect(problems).toEqual([])
  })

  it('describes every response, with examples, and every error as {detail, code}', () => {
    const problems: string[] = []
    for (const { key, operation } of operations(document)) {
      const responses = Object.entries(operation.responses ?? {}) as [string, ResponseObject][]
      if (!responses.some(([status]) => status.startsWith('2')))
        problems.push(`${key}: no success response`)
      for (const [status, response] of responses) {
        const where = `${key} ${status}`
        if (!response.description || response.description === 'Default Response')
          problems.push(`${where}: no description of its own`)
        if (status === '204') {
          if (response.content) problems.push(`${where}: 204 with content`)
          continue
        }
        const [type, media] = Object.entries(response.content ?? {})[0] ?? []
        if (!media?.schema) {
          problems.push(`${where}: no schema`)
          continue
        }
        if (type === 'application/json') problems.push(...exampleProblems(document, where, media))
        if (Number(status) >= 400)
          problems.push(...errorShapeProblems(document, where, media, status))
      }
    }
    expect(problems).toEqual([])
  })

  it('names every request and response shape as a component schema, for generated clients', () => {
    const inlineObjects: string[] = []
    const check = (where: string, media: MediaTypeObject) => {
      const schema = media.schema as (SchemaObject & { $ref?: string }) | undefined
      if (!schema || schema.$ref?.startsWith('#/components/schemas/')) return
      // A plain text body (metrics) has no shape to name; anything with fields does.
      if (schema.type !== 'string') inlineObjects.push(`${where}: ${JSON.stringify(schema)}`)
    }
    for (const { key, operation } of operations(document)) {
      const body = operation.requestBody as { content?: Record<string, MediaTypeObject> }
      for (const [type, media] of Object.entries(body?.content ?? {}))
        check(`${key} request ${type}`, media)
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const [type, media] of Object.entries((response as ResponseObject).content ?? {}))
          check(`${key} ${status} ${type}`, media)
      }
    }
    expect(inlineObjects).toEqual([])
    expect(Object.keys(document.components?.schemas ?? {})).toEqual(
      expect.arrayContaining([
        'SignupBody',
        'LoginJsonBody',
        'LoginFormBody',
        'PatchUserBody',
        'TokenPair',
        'User',
        'UserList',
        'ErrorBody',
        'ValidationErrorBody',
      ]),
    )
  })

  it('shows each error status its own example body', () => {
    const login = operations(document).find((o) => o.key === 'post /auth/login')?.operation
    const responses = (login?.responses ?? {}) as Record<string, ResponseObject>
    const exampleCode = (status: string) =>
      (responses[status]?.content?.['application/json']?.example as { code?: string })?.code
    expect(exampleCode('403')).toBe('forbidden')
    expect(exampleCode('429')).toBe('rate_limited')
    // Login's 401 has two shapes, each its own example.
    const examples = responses['401']?.content?.['application/json']?.examples ?? {}
    expect(
      Object.values(examples).map((example) => (example as { value: { code: string } }).value.code),
    ).toEqual(['invalid_credentials', 'mfa_required'])
    const verify = operations(document).find((o) => o.key === 'post /auth/mfa/verify')?.operation
    const verifyResponses = (verify?.responses ?? {}) as Record<string, ResponseObject>
    expect(
      (verifyResponses['401']?.content?.['application/json']?.example as { code?: string })?.code,
    ).toBe('invalid_token')
  })

  it('documents the contract headers: WWW-Authenticate on 401, Retry-After on 429', () => {
    const problems: string[] = []
    for (const { key, operation } of operations(document)) {
      const responses = (operation.responses ?? {}) as Record<string, ResponseObject>
      const headers = (status: string) =>
        Object.keys(responses[status]?.headers ?? {}).map((h) => h.toLowerCase())
      if (responses['401'] && !headers('401').includes('www-authenticate'))
        problems.push(`${key} 401: no WWW-Authenticate header`)
      if (responses['429'] && !headers('429').includes('retry-after'))
        problems.push(`${key} 429: no Retry-After header`)
    }
    expect(problems).toEqual([])
  })
})

describe('examples/api.d.ts', () => {
  it('is what openapi-typescript generates from the live document', async () => {
    const committed = await readFile(API_TYPES_PATH, 'utf8')
    const fresh = await renderApiTypes(document)
    // On failure: `npm run client:types`, then commit examples/api.d.ts.
    expect(committed === fresh, 'examples/api.d.ts is stale: run `npm run client:types`').toBe(true)
  })
})
