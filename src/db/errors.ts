/** SQLSTATE of a PostgreSQL error, looking through Drizzle's wrapper (`cause`). */
function sqlState(error: unknown): string | undefined {
  for (let current = error; current !== null && typeof current === 'object'; ) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** The name of the constraint a PostgreSQL error is about, looking through `cause`. */
function constraintOf(error: unknown): string | undefined {
  for (let current = error; current !== null && typeof current === 'object'; ) {
    const name = (current as { constraint?: unknown }).constraint
    if (typeof name === 'string') return name
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** True for a unique violation (23505) on the named constraint or index. */
export const isUniqueViolation = (error: unknown, constraint: string) =>
  sqlState(error) === '23505' && constraintOf(error) === constraint

/**
 * The database's own words for an error (the innermost `cause`): Drizzle's wrapper adds
 * the query and its bound parameters, which may hold secrets and must not be logged.
 */
export function databaseMessage(error: unknown): string {
  let current = error
  while (current instanceof Error && current.cause instanceof Error) current = current.cause
  return current instanceof Error ? current.message : String(error)
}
