import { type Static, Type } from 'typebox'
import { EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH } from '../core/credentials.js'
import type { UserRow } from '../db/schema.js'
import {
  CodeSchema,
  EmailSchema,
  FullNameSchema,
  PAGE_QUERY_FIELDS,
  PasswordSchema,
  pageOf,
  RoleSchema,
  UlidSchema,
} from './common.js'

/** The example user of the OpenAPI document (responses and pages alike). */
const USER_EXAMPLE = {
  id: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
  email: 'ana@example.com',
  full_name: 'Ana Lima',
  role: 'user',
  is_verified: true,
  is_active: true,
  mfa_enabled: false,
  created_at: '2026-11-25T10:00:00.000Z',
  updated_at: '2026-11-25T10:00:00.000Z',
}

export const UserOutSchema = Type.Object(
  {
    id: UlidSchema,
    email: EmailSchema,
    full_name: FullNameSchema,
    role: RoleSchema,
    is_verified: Type.Boolean(),
    is_active: Type.Boolean(),
    mfa_enabled: Type.Boolean({ description: 'Two-factor authentication (TOTP) is on' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'User',
    description: 'A user account; passwords, hashes and codes are never part of it',
    examples: [USER_EXAMPLE],
  },
)
export type UserOut = Static<typeof UserOutSchema>

/** The only row → JSON mapping for users, and the allow-list that keeps hashes out. */
export function toUserOut(row: UserRow): UserOut {
  return {
    id: row.id,
    email: row.email,
    full_name: row.fullName,
    role: row.role,
    is_verified: row.isVerified,
    is_active: row.isActive,
    mfa_enabled: row.mfaEnabled,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}

export const UserIdParamsSchema = Type.Object({ id: UlidSchema }, { additionalProperties: false })

export const PatchUserBodySchema = Type.Object(
  {
    full_name: Type.Optional(FullNameSchema),
    password: Type.Optional(PasswordSchema),
    current_password: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: PASSWORD_MAX_LENGTH,
        description:
          'Required with `password` when users change their own password; checked whenever sent',
      }),
    ),
    email: Type.Optional({ ...EmailSchema, description: 'Admins only; must stay unique' }),
    role: Type.Optional({ ...RoleSchema, description: 'Admins only' }),
    is_verified: Type.Optional(Type.Boolean({ description: 'Admins only' })),
    is_active: Type.Optional(
      Type.Boolean({ description: 'Admins only; `false` also revokes refresh tokens' }),
    ),
  },
  {
    $id: 'PatchUserBody',
    additionalProperties: false,
    description:
      'Fields to change; absent fields stay as they are. Users may change `full_name`, and ' +
      '`password` together with `current_password`; the other fields are for admins.',
    examples: [
      { full_name: 'Ana Lima' },
      { password: 'new horse battery staple', current_password: 'correct horse battery staple' },
      { role: 'admin', is_verified: true },
    ],
  },
)
export type PatchUserBody = Static<typeof PatchUserBodySchema>

export const ChangeEmailBodySchema = Type.Object(
  {
    new_email: EmailSchema,
    current_password: Type.String({
      minLength: 1,
      maxLength: PASSWORD_MAX_LENGTH,
      description: 'The password of the signed-in user',
    }),
  },
  {
    $id: 'ChangeEmailBody',
    additionalProperties: false,
    examples: [
      { new_email: 'ana.lima@example.org', current_password: 'correct horse battery staple' },
    ],
  },
)

export const ConfirmEmailChangeBodySchema = Type.Object(
  { code: CodeSchema },
  { $id: 'ConfirmEmailChangeBody', additionalProperties: false, examples: [{ code: '042917' }] },
)

export const EmailChangePendingSchema = Type.Object(
  { detail: Type.String() },
  {
    $id: 'EmailChangePending',
    description: 'Nothing has changed yet: the change waits for the code sent to the new address',
    examples: [{ detail: 'A code is on its way to the new address' }],
  },
)

const booleanFilter = (description: string) => Type.Optional(Type.Boolean({ description }))

export const ListUsersQuerySchema = Type.Object(
  {
    ...PAGE_QUERY_FIELDS,
    role: Type.Optional(RoleSchema),
    is_verified: booleanFilter('Only verified (`true`) or unverified (`false`) users'),
    is_active: booleanFilter('Only active (`true`) or deactivated (`false`) users'),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: EMAIL_MAX_LENGTH,
        description: 'Case-insensitive prefix of the e-mail address or the full name',
        examples: ['ana'],
      }),
    ),
  },
  { additionalProperties: false },
)

export const UserListSchema = pageOf(UserOutSchema, {
  $id: 'UserList',
  description: 'One page of users, newest first',
  examples: [
    {
      items: [USER_EXAMPLE],
      next_cursor:
        'WyIyMDI2LTExLTI1VDEwOjAwOjAwLjAwMDAwMFoiLCIwMUpEOFg0WlFLM1Y3TTJONVA2UjhTOVQwVyJd',
    },
  ],
})
