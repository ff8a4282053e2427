import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { MediaTypeObject, OpenAPI3, OperationObject, SchemaObject } from 'openapi-typescript'

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const

export interface Operation {
  /** Method and path without the version prefix, as CONTRACT names it. */
  key: string
  path: string
  /** The path as the document lists it. */
  listedAs: string
  operation: OperationObject
}

/** Every operation of `document`, with the path as the contract names it. */
export function operations(document: OpenAPI3): Operation[] {
  const found: Operation[] = []
  for (const [listedAs, item] of Object.entries(document.paths ?? {})) {
    const path = listedAs.startsWith('/v1/') ? listedAs.slice('/v1'.length) : listedAs
    for (const method of METHODS) {
      const operation = (item as Record<string, OperationObject | undefined>)[method]
      if (operation) found.push({ key: `${method} ${path}`, path, listedAs, operation })
    }
  }
  return found
}

/** Replaces `#/components/schemas/…` references, so ajv sees one self-contained schema. */
function inline(document: OpenAPI3, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => inline(document, item))
  if (value === null || typeof value !== 'object') return value
  const ref = (value as { $ref?: unknown }).$ref
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '')
    return inline(document, document.components?.schemas?.[name])
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inline(document, v)]))
}

/** The examples a media type carries: its own, or those of its schema. */
function examplesOf(document: OpenAPI3, media: MediaTypeObject): unknown[] {
  const schema = inline(document, media.schema) as SchemaObject & { examples?: unknown[] }
  const own = media.example !== undefined ? [media.example] : []
  const named = Object.values(media.examples ?? {}).map((e) => (e as { value: unknown }).value)
  return [...own, ...named, ...(schema.examples ?? [])]
}

const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats.default(ajv)

/** What is wrong with the examples of `media`: none, or one that its schema refuses. */
export function exampleProblems(
  document: OpenAPI3,
  where: string,
  media: MediaTypeObject,
): string[] {
  const examples = examplesOf(document, media)
  if (examples.length === 0) return [`${where}: no example`]
  const validate = ajv.compile(inline(document, media.schema) as object)
  return examples.flatMap((example) =>
    validate(example) ? [] : [`${where}: example ${JSON.stringify(example)} does not match`],
  )
}

/** What is wrong with an error response's schema: the contract's `{detail, code}` shape. */
export function errorShapeProblems(
  document: OpenAPI3,
  where: string,
  media: MediaTypeObject,
  status: string,
): string[] {
  const schema = inline(document, media.schema) as SchemaObject & {
    properties?: Record<string, SchemaObject & { items?: SchemaObject }>
    required?: string[]
  }
  const problems: string[] = []
  if (JSON.stringify([...(schema.required ?? [])].sort()) !== '["code","detail"]')
    problems.push(`${where}: error schema must require exactly detail and code`)
  if (schema.properties?.code?.type !== 'string') problems.push(`${where}: code is not a string`)
  const detail = schema.properties?.detail
  if (status === '422') {
    const item = detail?.items as { required?: string[] } | undefined
    if (detail?.type !== 'array' || JSON.stringify(item?.required) !== '["loc","msg","type"]')
      problems.push(`${where}: 422 detail must be a list of {loc, msg, type}`)
  } else if (detail?.type !== 'string') problems.push(`${where}: detail is not a string`)
  return problems
}
