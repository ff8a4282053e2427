import { type Static, Type } from 'typebox'
import type { Config } from '../core/config.js'

const Base64urlSchema = Type.String({ pattern: '^[A-Za-z0-9_-]+$' })

/**
 * A public JWK. The response schema is also the allow-list of what is sent: a private
 * parameter (`d`) has no property here, so it could never be serialised.
 */
const JwkSchema = Type.Object(
  {
    kty: Type.Union([Type.Literal('EC'), Type.Literal('OKP')], {
      description: '`EC` for ES256 (P-256), `OKP` for EdDSA (Ed25519)',
    }),
    kid: Type.String({ description: 'Key id: the RFC 7638 thumbprint; tokens name it in `kid`' }),
    alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')]),
    use: Type.Literal('sig'),
    crv: Type.Union([Type.Literal('P-256'), Type.Literal('Ed25519')]),
    x: { ...Base64urlSchema, description: 'Public parameter' },
    y: Type.Optional({ ...Base64urlSchema, description: 'Public parameter (EC only)' }),
  },
  { description: 'A public signing key (RFC 7517); never a private part' },
)

const JWK_EXAMPLE = {
  kty: 'EC',
  kid: 'Zx1v0PHHxLLmB9yO1mX-Wz2eUvxJ8tpGQ_0ZjxUjqHs',
  alg: 'ES256',
  use: 'sig',
  crv: 'P-256',
  x: 'bSvQtSZdAbtNKJVczKbtu_TWDt_f2JOgOatgknzGu78',
  y: '-uWRfV2P4SVPkvhid39AjHx9ZOaG-FKHo9fKrJ_Evz4',
}

export const JwksSchema = Type.Object(
  { keys: Type.Array(JwkSchema) },
  {
    $id: 'JsonWebKeySet',
    description:
      'The keys a verifier may meet: the current signing key, the next one, and retired ones until their tokens have expired. Empty when JWT_ALGORITHM=HS256.',
    examples: [{ keys: [JWK_EXAMPLE] }],
  },
)

export const AuthorizationServerMetadataSchema = Type.Object(
  {
    issuer: Type.String({ description: 'The `iss` of every access token (JWT_ISSUER)' }),
    token_endpoint: Type.String({ format: 'uri' }),
    jwks_uri: Type.String({ format: 'uri' }),
    grant_types_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  },
  {
    $id: 'AuthorizationServerMetadata',
    description: 'RFC 8414 metadata: where tokens come from and the keys that verify them',
    examples: [
      {
        issuer: 'coffee-shop-api',
        token_endpoint: 'https://auth.coffee.example/v1/auth/login',
        jwks_uri: 'https://auth.coffee.example/.well-known/jwks.json',
        grant_types_supported: ['password', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['none'],
      },
    ],
  },
)
export type AuthorizationServerMetadata = Static<typeof AuthorizationServerMetadataSchema>

/** The metadata of this deployment: absolute URLs on PUBLIC_URL. */
export const authorizationServerMetadata = (
  config: Pick<Config, 'jwtIssuer' | 'publicUrl'>,
): AuthorizationServerMetadata => ({
  issuer: config.jwtIssuer,
  token_endpoint: `${config.publicUrl}/v1/auth/login`,
  jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
  grant_types_supported: ['password', 'refresh_token'],
  token_endpoint_auth_methods_supported: ['none'],
})
