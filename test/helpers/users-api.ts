import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import type { TestApp } from './app.js'
import { authHeaders, type MadeUser } from './factories.js'

/** A well-formed ULID that no row has. */
export const MISSING_ID = '01JD8X4ZQK3V7M2N5P6R8S9T0W'
export const FORBIDDEN = { detail: 'Not enough permissions', code: 'forbidden' }
export const NOT_FOUND = { detail: 'User not found', code: 'not_found' }
export const NOT_AUTHENTICATED = { detail: 'Not authenticated', code: 'not_authenticated' }
export const INVALID_TOKEN = { detail: 'Could not validate credentials', code: 'invalid_token' }

export type UsersMethod = 'GET' | 'PATCH' | 'DELETE'

/** A request to the user routes as `as` (signed in with a fresh token), or anonymous. */
export async function callAs(
  t: TestApp,
  method: UsersMethod,
  url: string,
  as: MadeUser | null,
  payload?: object,
): Promise<LightMyRequestResponse> {
  const headers = as ? await authHeaders(t, as) : {}
  return t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
}

export function expectError(response: LightMyRequestResponse, status: number, body: object) {
  expect(response.statusCode).toBe(status)
  expect(response.json()).toEqual(body)
}

/** The contract's user object for a row, as the API must render it. */
export const userJson = (row: MadeUser) => ({
  id: row.id,
  email: row.email,
  full_name: row.fullName,
  role: row.role,
  is_verified: row.isVerified,
  is_active: row.isActive,
  mfa_enabled: row.mfaEnabled,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
})
