import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '../core/config.js'
import {
  AuthorizationServerMetadataSchema,
  authorizationServerMetadata,
  JwksSchema,
} from '../schemas/well-known.js'
import type { KeyStore } from '../services/key-store.js'

export interface WellKnownRoutesOptions {
  config: Readonly<Config>
  keys: Pick<KeyStore, 'jwks'>
}

/**
 * How long verifiers may cache the key set. A new key is published as `next` long before
 * it signs, and a revoked one must leave caches soon: five minutes serves both.
 */
const JWKS_MAX_AGE_SECONDS = 300

/** `/.well-known/*`: what other services need to verify our tokens without a secret. */
export const wellKnownRoutes: FastifyPluginAsyncTypebox<WellKnownRoutesOptions> = async (
  app,
  { config, keys },
) => {
  const metadata = authorizationServerMetadata(config)

  app.get(
    '/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public keys (JWKS)',
        operationId: 'getJwks',
        security: [],
        description:
          'The public keys that verify access tokens (pick the one named by the token’s `kid`). Cacheable for a few minutes; fetch again when a token names an unknown `kid`.',
        response: { 200: JwksSchema },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      return keys.jwks()
    },
  )

  app.get(
    '/oauth-authorization-server',
    {
      schema: {
        tags: ['keys'],
        summary: 'Authorization server metadata',
        operationId: 'getAuthorizationServerMetadata',
        security: [],
        description:
          'RFC 8414 metadata: the issuer, the token endpoint and the JWKS address, as absolute URLs on PUBLIC_URL.',
        response: { 200: AuthorizationServerMetadataSchema },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
      return metadata
    },
  )
}
