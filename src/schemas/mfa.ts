import { Type } from 'typebox'
import { PASSWORD_MAX_LENGTH } from '../core/credentials.js'
import { RECOVERY_CODE_COUNT } from '../core/mfa.js'

const CurrentPasswordSchema = Type.String({
  minLength: 1,
  maxLength: PASSWORD_MAX_LENGTH,
  description: "The account's password",
})

const TotpCodeSchema = Type.String({
  pattern: '^[0-9]{6}$',
  description: 'The 6-digit code the authenticator app shows now',
  examples: ['492039'],
})

const RecoveryCodeSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'One of the recovery codes (case, spaces and hyphens are ignored)',
  examples: ['k7qm-x2fd-9hta'],
})

const TotpOrRecoveryCodeSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'A 6-digit code from the authenticator app, or a recovery code',
  examples: ['492039'],
})

export const StartTotpBodySchema = Type.Object(
  { current_password: CurrentPasswordSchema },
  {
    $id: 'StartTotpBody',
    additionalProperties: false,
    examples: [{ current_password: 'correct horse battery staple' }],
  },
)

export const TotpEnrolmentSchema = Type.Object(
  {
    secret: Type.String({ description: 'The TOTP secret in base32, to type in by hand' }),
    otpauth_uri: Type.String({
      description: 'The `otpauth://totp/…` URI to show as a QR code (issuer "Coffee Shop")',
    }),
  },
  {
    $id: 'TotpEnrolment',
    description: 'A pending enrolment: confirm it with a first code within 10 minutes',
    examples: [
      {
        secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
        otpauth_uri:
          'otpauth://totp/Coffee%20Shop:ana%40example.com?issuer=Coffee%20Shop&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30',
      },
    ],
  },
)

export const ConfirmTotpBodySchema = Type.Object(
  { code: TotpCodeSchema },
  { $id: 'ConfirmTotpBody', additionalProperties: false, examples: [{ code: '492039' }] },
)

export const MfaChangeBodySchema = Type.Object(
  { current_password: CurrentPasswordSchema, code: TotpOrRecoveryCodeSchema },
  {
    $id: 'MfaChangeBody',
    additionalProperties: false,
    examples: [{ current_password: 'correct horse battery staple', code: '492039' }],
  },
)

export const RecoveryCodesSchema = Type.Object(
  {
    recovery_codes: Type.Array(Type.String(), {
      minItems: RECOVERY_CODE_COUNT,
      maxItems: RECOVERY_CODE_COUNT,
      description: 'Single-use codes for when the authenticator is lost; shown only this once',
    }),
  },
  {
    $id: 'RecoveryCodes',
    description: 'New recovery codes; any earlier ones no longer work',
    examples: [
      {
        recovery_codes: [
          'k7qm-x2fd-9hta',
          'p3rs-8wne-c4vb',
          'x9tz-2mqa-hj7k',
          'f6gd-r3yu-n8pe',
          'w2cs-7kvm-t5qa',
          'b4nh-9xej-u3rz',
          'm8ta-5pcw-e2ky',
          'g3vq-6hdr-s9nf',
          'y7ub-4zmk-a6tw',
          'd5ej-2rqn-v8hc',
        ],
      },
    ],
  },
)

export const MfaVerifyBodySchema = Type.Object(
  {
    mfa_token: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'The `mfa_token` of the login that answered `mfa_required`',
    }),
    code: Type.Optional(TotpCodeSchema),
    recovery_code: Type.Optional(RecoveryCodeSchema),
  },
  {
    $id: 'MfaVerifyBody',
    additionalProperties: false,
    description: 'The `mfa_token` with exactly one of `code` and `recovery_code`',
    examples: [
      {
        mfa_token: '01JD8X4ZQK3V7M2N5P6R8S9T0W.q3ZbYQ1oWc0mP7fX2d9kR4tLhV8nJ6sA5eG0uB1yC3w',
        code: '492039',
      },
    ],
  },
)

/** The login's 401: `invalid_credentials`, or `mfa_required` with the token of the second step. */
export const LoginErrorBodySchema = Type.Object(
  {
    detail: Type.String(),
    code: Type.String({ examples: ['mfa_required'] }),
    mfa_token: Type.Optional(
      Type.String({ description: 'With `mfa_required` only: send it to POST /auth/mfa/verify' }),
    ),
    error: Type.Optional(
      Type.String({
        description: 'With `mfa_required`: the code again, as OAuth2 clients read it',
      }),
    ),
    error_description: Type.Optional(
      Type.String({ description: 'With `mfa_required`: the detail again, for OAuth2 clients' }),
    ),
  },
  {
    $id: 'LoginErrorBody',
    description:
      'Wrong e-mail or password (`invalid_credentials`), or a right password of an account with two-factor authentication (`mfa_required`, with `mfa_token`)',
    examples: [
      { detail: 'Incorrect email or password', code: 'invalid_credentials' },
      {
        detail:
          'Two-factor authentication required: send a code with this mfa_token to POST /auth/mfa/verify',
        code: 'mfa_required',
        mfa_token: '01JD8X4ZQK3V7M2N5P6R8S9T0W.q3ZbYQ1oWc0mP7fX2d9kR4tLhV8nJ6sA5eG0uB1yC3w',
        error: 'mfa_required',
        error_description:
          'Two-factor authentication required: send a code with this mfa_token to POST /auth/mfa/verify',
      },
    ],
  },
)

/** Login's 401 as the route declares it: the named body, with the contract's header. */
export const LoginUnauthorizedSchema = {
  ...LoginErrorBodySchema,
  headers: { 'WWW-Authenticate': { type: 'string', description: 'Always `Bearer`' } },
}
