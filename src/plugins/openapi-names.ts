import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger'
import type { FastifyInstance, FastifySchema } from 'fastify'
import { AuditEventListSchema } from '../schemas/audit.js'
import {
  AcceptedSchema,
  EmailBodySchema,
  LoginFormBodySchema,
  LoginJsonBodySchema,
  RefreshBodySchema,
  ResetPasswordBodySchema,
  SignupBodySchema,
  TokenPairSchema,
  VerifyBodySchema,
} from '../schemas/auth.js'
import {
  ErrorBodySchema,
  errorExample,
  HealthStatusSchema,
  ValidationErrorBodySchema,
} from '../schemas/common.js'
import {
  ConfirmTotpBodySchema,
  LoginErrorBodySchema,
  MfaChangeBodySchema,
  MfaVerifyBodySchema,
  RecoveryCodesSchema,
  StartTotpBodySchema,
  TotpEnrolmentSchema,
} from '../schemas/mfa.js'
import { SessionListSchema } from '../schemas/sessions.js'
import {
  ChangeEmailBodySchema,
  ConfirmEmailChangeBodySchema,
  EmailChangePendingSchema,
  PatchUserBodySchema,
  UserListSchema,
  UserOutSchema,
} from '../schemas/users.js'
import { AuthorizationServerMetadataSchema, JwksSchema } from '../schemas/well-known.js'

/**
 * Every request and response shape gets a name in the OpenAPI document (its `$id`), so
 * generated clients get real type names (`SignupBody`, `TokenPair`) instead of anonymous
 * inline objects. The routes keep their full schemas for validation, serialisation and
 * types; only the document refers to the shared copies registered here.
 */
const NAMED_SCHEMAS = [
  SignupBodySchema,
  VerifyBodySchema,
  EmailBodySchema,
  LoginJsonBodySchema,
  LoginFormBodySchema,
  RefreshBodySchema,
  ResetPasswordBodySchema,
  PatchUserBodySchema,
  ChangeEmailBodySchema,
  ConfirmEmailChangeBodySchema,
  EmailChangePendingSchema,
  UserOutSchema,
  UserListSchema,
  SessionListSchema,
  AuditEventListSchema,
  StartTotpBodySchema,
  TotpEnrolmentSchema,
  ConfirmTotpBodySchema,
  MfaChangeBodySchema,
  RecoveryCodesSchema,
  MfaVerifyBodySchema,
  LoginErrorBodySchema,
  TokenPairSchema,
  AcceptedSchema,
  ErrorBodySchema,
  ValidationErrorBodySchema,
  HealthStatusSchema,
  JwksSchema,
  AuthorizationServerMetadataSchema,
]
/** ErrorBodySchema's $id: the shape of every error but a 422. */
const ERROR_BODY = 'ErrorBody'

/** Before the swagger plugin and the routes: the shared schemas it may refer to. */
export function registerNamedSchemas(app: FastifyInstance) {
  for (const schema of NAMED_SCHEMAS) app.addSchema(schema)
}

type Schema = Record<string, unknown> & { $id?: string; content?: Record<string, Media> }
type Media = { schema: Schema }

/**
 * A reference to the named copy, keeping what the document reads beside it (a response's
 * description and headers). An error response without a name of its own is an ErrorBody.
 */
function named(schema: Schema, status?: number): Schema {
  const name = schema.$id ?? (status !== undefined && status >= 400 ? ERROR_BODY : undefined)
  if (name === undefined) return schema
  const { description, headers } = schema
  return {
    $ref: `${name}#`,
    ...(description ? { description } : {}),
    ...(headers ? { headers } : {}),
  }
}

function namedBody(body: Schema): Schema {
  if (!body.content) return named(body)
  const content = Object.entries(body.content).map(([type, media]) => [
    type,
    { ...media, schema: named(media.schema) },
  ])
  return { ...body, content: Object.fromEntries(content) }
}

/** @fastify/swagger `transform`: top-level bodies and responses become references. */
export const referToNamedSchemas: SwaggerTransform = ({ schema, url }) => {
  if (!schema) return { schema, url }
  const copy: FastifySchema = { ...schema }
  if (schema.body) copy.body = namedBody(schema.body as Schema)
  if (schema.response) {
    const responses = Object.entries(schema.response as Record<string, Schema>)
    copy.response = Object.fromEntries(
      responses.map(([status, response]) => [status, named(response, Number(status))]),
    )
  }
  return { schema: copy, url }
}

type MediaObject = {
  schema?: { $ref?: string }
  example?: unknown
  examples?: Record<string, { value: unknown }>
}
type Operation = {
  requestBody?: { content?: Record<string, MediaObject> }
  responses?: Record<string, { content?: Record<string, MediaObject> }>
}
type Components = Record<string, { examples?: unknown[] }>

const COMPONENT = '#/components/schemas/'

/**
 * Where a body or response now refers to a named shape, its examples go back beside the
 * reference, as they were inline (Swagger UI fills "Try it out" from them); an error
 * response gets its own status's typical body (a 401 does not show `email_taken`).
 */
function addExamples(media: MediaObject, components: Components, status?: number) {
  const name =
    media.schema?.$ref?.startsWith(COMPONENT) && media.schema.$ref.slice(COMPONENT.length)
  if (!name || media.example !== undefined || media.examples !== undefined) return
  if (name === ERROR_BODY && status !== undefined) {
    media.example = errorExample(status)
    return
  }
  const examples = components[name]?.examples ?? []
  if (examples.length === 1) media.example = examples[0]
  else if (examples.length > 1) {
    media.examples = Object.fromEntries(examples.map((value, i) => [`example${i + 1}`, { value }]))
  }
}

/** @fastify/swagger `transformObject`: see addExamples. */
export const restoreExamples: SwaggerTransformObject = (document) => {
  if (!('openapiObject' in document)) return document.swaggerObject
  const { paths = {}, components = {} } = document.openapiObject
  const schemas = (components.schemas ?? {}) as Components
  for (const item of Object.values(paths as Record<string, Record<string, Operation>>)) {
    for (const operation of Object.values(item)) {
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        addExamples(media, schemas)
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        for (const media of Object.values(response.content ?? {})) {
          addExamples(media, schemas, Number(status))
        }
      }
    }
  }
  return document.openapiObject
}
