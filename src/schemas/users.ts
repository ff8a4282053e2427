import { type Static, Type } from 'typebox'
import type { UserRow } from '../db/schema.js'
import { EmailSchema, FullNameSchema, RoleSchema, UlidSchema } from './common.js'

export const UserOutSchema = Type.Object(
  {
    id: UlidSchema,
    email: EmailSchema,
    full_name: FullNameSchema,
    role: RoleSchema,
    is_verified: Type.Boolean(),
    is_active: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'User',
    examples: [
      {
        id: '01JD8X4ZQK3V7M2N5P6R8S9T0W',
        email: 'ana@example.com',
        full_name: 'Ana Lima',
        role: 'user',
        is_verified: true,
        is_active: true,
        created_at: '2026-11-25T10:00:00.000Z',
        updated_at: '2026-11-25T10:00:00.000Z',
      },
    ],
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
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}
