import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../core/errors.js'
import { errorResponses, HealthStatusSchema } from '../schemas/common.js'

export interface HealthRoutesOptions {
  /** Resolves when the database answers `select 1` in time. */
  ping(): Promise<void>
  /** Why this instance cannot issue tokens (no usable signing key), or null. */
  signingProblem(): string | null
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (
  app,
  { ping, signingProblem },
) => {
  app.get(
    '/live',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness',
        operationId: 'live',
        security: [],
        description: 'Answers 200 while the process runs; touches nothing else.',
        response: { 200: HealthStatusSchema },
      },
      config: { requestLimit: 'none' },
      logLevel: 'warn',
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness',
        operationId: 'ready',
        security: [],
        description:
          'Answers 200 when the database answers `select 1` within a short timeout and a signing key is loaded, else 503.',
        response: { 200: HealthStatusSchema, ...errorResponses(503) },
      },
      config: { requestLimit: 'none' },
      logLevel: 'warn',
    },
    async (request) => {
      try {
        await ping()
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed')
        throw new AppError(503, 'service_unavailable', 'Database unavailable')
      }
      const problem = signingProblem()
      if (problem !== null) {
        request.log.error(`readiness check failed: cannot sign access tokens: ${problem}`)
        throw new AppError(503, 'service_unavailable', 'No signing key available')
      }
      return { status: 'ok' }
    },
  )
}
