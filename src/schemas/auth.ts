import { type Static, Type } from 'typebox'
import { PASSWORD_MAX_LENGTH } from '../core/credentials.js'
import { CodeSchema, EmailSchema, FullNameSchema, PasswordSchema } from './common.js'

const RefreshTokenSchema = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'An opaque refresh token from login or refresh',
  examples: ['q3ZbYQ1oWc0mP7fX2d9kR4tLhV8nJ6sA5eG0uB1yC3w'],
})

export const SignupBodySchema = Type.Object(
  {
    email: EmailSchema,
    password: PasswordSchema,
    full_name: Type.Optional(FullNameSchema),
  },
  {
    $id: 'SignupBody',
    additionalProperties: false,
    examples: [
      { email: 'ana@example.com', password: 'correct horse battery staple', full_name: 'Ana Lima' },
    ],
  },
)

export const VerifyBodySchema = Type.Object(
  { email: EmailSchema, code: CodeSchema },
  {
    $id: 'VerifyBody',
    additionalProperties: false,
    examples: [{ email: 'ana@example.com', code: '042917' }],
  },
)

export const EmailBodySchema = Type.Object(
  { email: EmailSchema },
  { $id: 'EmailBody', additionalProperties: false, examples: [{ email: 'ana@example.com' }] },
)

export const LoginJsonBodySchema = Type.Object(
  { email: EmailSchema, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
  {
    $id: 'LoginJsonBody',
    additionalProperties: false,
    examples: [{ email: 'ana@example.com', password: 'correct horse battery staple' }],
  },
)
export type LoginJsonBody = Static<typeof LoginJsonBodySchema>

/** OAuth2 password grant (RFC 6749 §4.3), as Swagger UI's *Authorize* sends it. */
export const LoginFormBodySchema = Type.Object(
  {
    username: { ...EmailSchema, description: 'The e-mail address' },
    password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
    grant_type: Type.Optional(Type.Literal('password')),
    scope: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored' })),
    client_id: Type.Optional(Type.String({ maxLength: 256, description: 'Accepted and ignored' })),
    client_secret: Type.Optional(
      Type.String({ maxLength: 256, description: 'Accepted and ignored' }),
    ),
  },
  {
    $id: 'LoginFormBody',
    additionalProperties: false,
    examples: [
      {
        grant_type: 'password',
        username: 'ana@example.com',
        password: 'correct horse battery staple',
      },
    ],
  },
)
export type LoginFormBody = Static<typeof LoginFormBodySchema>

export const RefreshBodySchema = Type.Object(
  { refresh_token: RefreshTokenSchema },
  {
    $id: 'RefreshBody',
    additionalProperties: false,
    examples: [{ refresh_token: 'q3ZbYQ1oWc0mP7fX2d9kR4tLhV8nJ6sA5eG0uB1yC3w' }],
  },
)

export const ResetPasswordBodySchema = Type.Object(
  { email: EmailSchema, code: CodeSchema, new_password: PasswordSchema },
  {
    $id: 'ResetPasswordBody',
    additionalProperties: false,
    examples: [
      { email: 'ana@example.com', code: '042917', new_password: 'a new and long passphrase' },
    ],
  },
)

export const TokenPairSchema = Type.Object(
  {
    access_token: Type.String({
      description:
        'JWT (`typ: at+jwt`), signed with JWT_ALGORITHM (ES256 by default; verifiable with the keys at `/.well-known/jwks.json`); send as Bearer',
    }),
    refresh_token: Type.String({ description: 'Opaque; single use, rotated on refresh' }),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  },
  {
    $id: 'TokenPair',
    description: 'A new access token and refresh token; not to be cached',
    examples: [
      {
        access_token:
          'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ilp4MXYwUEhIeExMbUI5eU8xbVgtV3oyZVV2eEo4dHBHUV8wWmp4VWpxSHMifQ.eyJyb2xlIjoidXNlciJ9.c2lnbmF0dXJl',
        refresh_token: 'q3ZbYQ1oWc0mP7fX2d9kR4tLhV8nJ6sA5eG0uB1yC3w',
        token_type: 'bearer',
        expires_in: 900,
      },
    ],
  },
)
export type TokenPair = Static<typeof TokenPairSchema>

export const AcceptedSchema = Type.Object(
  { detail: Type.String() },
  {
    $id: 'Accepted',
    description: 'Accepted; the same answer whether or not the account exists',
    examples: [{ detail: 'If the account exists, an e-mail is on its way' }],
  },
)
