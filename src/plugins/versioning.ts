import type { FastifyInstance } from 'fastify'

/** The path prefix of the current API version; the OpenAPI document lists routes under it. */
export const API_VERSION_PREFIX = '/v1'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * On an unversioned compatibility alias: the `/v1` pattern it answers for, so metrics
     * count both forms under one label.
     */
    versionedUrl?: string
  }
}

/**
 * Makes the routes added in `app` (an encapsulated scope) unversioned aliases of their
 * `/v1` forms: same handlers, same limits, hidden from the OpenAPI document.
 */
export function markAsUnversionedAliases(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    // A new object: the schema constants are shared with the listed /v1 route.
    route.schema = { ...route.schema, hide: true }
    route.config = { ...route.config, versionedUrl: `${API_VERSION_PREFIX}${route.url}` }
  })
}

/** The route without its version prefix: the key of budgets that both forms share. */
export function unversioned(url: string): string {
  return url.startsWith(`${API_VERSION_PREFIX}/`) ? url.slice(API_VERSION_PREFIX.length) : url
}
