/**
 * The database schema, one module per group of tables in `schema/`. Everything imports it
 * from here, and drizzle-kit reads it from here (drizzle.config.ts).
 */
export * from './schema/audit.js'
export * from './schema/codes.js'
export * from './schema/mfa.js'
export * from './schema/scheduled-runs.js'
export * from './schema/sessions.js'
export * from './schema/signing-keys.js'
export * from './schema/users.js'
