import { readFile } from 'node:fs/promises'
import type { OpenAPI3 } from 'openapi-typescript'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  API_REFERENCE_PATH,
  openApiRoutes,
  renderRouteIndex,
  withRouteIndex,
} from '../../examples/generate-api-reference.js'
import { buildOpenApiDocument } from '../../examples/generate-types.js'
import { withoutCodeBlocks } from '../helpers/markdown-links.js'

/**
 * docs/api.md is the repository's own API reference. It must describe the routes the API
 * serves, all of them and no others: a route added without its section, or a planned route
 * described as if it existed, fails here.
 */
let document: OpenAPI3
let markdown: string

beforeAll(async () => {
  // The app on in-memory PGlite, never listening: what `npm run docs:api` reads.
  document = await buildOpenApiDocument()
  markdown = await readFile(API_REFERENCE_PATH, 'utf8')
}, 180_000)

const ROUTE = /\b(GET|POST|PUT|PATCH|DELETE) (\/[^\s`|]*)/
const PLANNED_HEADING = '\n## Planned\n'

/** The `### \`METHOD /path\`` headings of the reference, before its Planned section. */
function describedRoutes(text: string): string[] {
  const reference = text.slice(0, text.indexOf(PLANNED_HEADING))
  return [...reference.matchAll(/^#{2,4} `([A-Z]+ \/[^`]*)`$/gm)].map((match) => match[1] ?? '')
}

/** Every `METHOD /path` the Planned section names. */
function plannedRoutes(text: string): string[] {
  const planned = text.slice(text.indexOf(PLANNED_HEADING))
  return planned
    .split('\n')
    .map((line) => ROUTE.exec(line))
    .filter((match) => match !== null)
    .map((match) => `${match[1]} ${match[2]}`)
}

describe('docs/api.md', () => {
  it('carries the route index generated from the live OpenAPI document', () => {
    const fresh = withRouteIndex(markdown, renderRouteIndex(document))
    // On failure: `npm run docs:api`, then commit docs/api.md.
    expect(markdown === fresh, 'docs/api.md is stale: run `npm run docs:api`').toBe(true)
  })

  it('gives every route the API serves a section, and no section to a route it does not', () => {
    const served = openApiRoutes(document)
    expect(served).toContain('PATCH /v1/users/{id}')
    expect([...describedRoutes(markdown)].sort()).toEqual([...served].sort())
  })

  it('lists under Planned only routes the API does not serve yet', () => {
    expect(markdown).toContain(PLANNED_HEADING)
    const planned = plannedRoutes(markdown)
    expect(planned.filter((route) => openApiRoutes(document).includes(route))).toEqual([])
  })

  it('mentions no route outside Planned that the API does not serve', () => {
    const listed = openApiRoutes(document)
    // The unversioned aliases of the /v1 routes are served too, just not listed.
    const served = new Set([...listed, ...listed.map((route) => route.replace(' /v1/', ' /'))])
    const notInOpenApi = new Set(['GET /openapi.json', 'GET /docs', 'GET /redoc'])
    // Code spans stay: routes are written as code. Code blocks (JSON examples) go.
    const reference = withoutCodeBlocks(markdown.slice(0, markdown.indexOf(PLANNED_HEADING)))
    const mentioned = [...reference.matchAll(new RegExp(ROUTE, 'g'))].map(
      (match) => `${match[1]} ${match[2]}`,
    )
    expect(mentioned.filter((route) => !served.has(route) && !notInOpenApi.has(route))).toEqual([])
  })
})
