import { randomUUID } from 'node:crypto'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Clock } from './core/clock.js'
import type { Config } from './core/config.js'
import { moreSevereLevel } from './core/logger.js'
import type { ErrorReporter } from './core/sentry.js'
import type { Database } from './db/client.js'
import type { UserRow } from './db/schema.js'
import type { Metrics } from './metrics.js'
import { registerAdminMfaRule } from './plugins/admin-mfa.js'
import { registerErrorHandlers } from './plugins/error-handler.js'
import { registerGracefulClose } from './plugins/graceful-close.js'
import { registerMetrics } from './plugins/metrics.js'
import { registerNoStore } from './plugins/no-store.js'
import {
  referToNamedSchemas,
  registerNamedSchemas,
  restoreExamples,
} from './plugins/openapi-names.js'
import { registerRateLimits } from './plugins/rate-limit.js'
import { registerSecurity } from './plugins/security.js'
import { registerValidation } from './plugins/validation.js'
import { API_VERSION_PREFIX, markAsUnversionedAliases } from './plugins/versioning.js'
import { auditRoutes } from './routes/audit.js'
import { authRoutes } from './routes/auth.js'
import { docsRoutes } from './routes/docs.js'
import { healthRoutes } from './routes/health.js'
import { mfaRoutes } from './routes/mfa.js'
import { sessionsRoutes } from './routes/sessions.js'
import { usersRoutes } from './routes/users.js'
import { wellKnownRoutes } from './routes/well-known.js'
import type { Services } from './services/index.js'

export interface AppDeps {
  config: Readonly<Config>
  database: Database
  clock: Clock
  logger: FastifyBaseLogger
  /** Sentry, when SENTRY_DSN is set; receives unexpected errors only. */
  errorReporter?: ErrorReporter | null
  /** The registry /metrics serves; the services and the scheduler count into it too. */
  metrics: Metrics
  /** Built by the composition root (composition.ts), never here: the tests run that wiring. */
  services: Services
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/
/** How long `/health/ready` and the `database_up` metric wait for `select 1`. */
export const READY_TIMEOUT_MS = 2_000

/** The Fastify instance: trusted proxies, body limit, request ids, log levels per route. */
function createFastify(deps: Pick<AppDeps, 'config' | 'logger'>) {
  const { config } = deps
  const app = Fastify({
    loggerInstance: deps.logger,
    // A hop count becomes a function: Fastify's types accept only that form.
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_address: string, hop: number) => hop < (config.trustProxy as number)
        : config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    // Keep a caller's request id when it is sane, so logs join up across services.
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorateRequest('user', null as unknown as UserRow)
  app.decorateRequest('sessionId', null)
  // Quiet routes (probes, metrics) log at `warn`, but never more than LOG_LEVEL allows.
  app.addHook('onRoute', (route) => {
    if (route.logLevel) route.logLevel = moreSevereLevel(route.logLevel, config.logLevel)
  })
  return app
}

/** The OpenAPI document (`/openapi.json`), built from the routes' schemas as they register. */
async function registerOpenApi(app: FastifyInstance) {
  registerNamedSchemas(app)
  await app.register(swagger, {
    // Shared schemas keep their $id as their name (`User`, not `def-0`) for readers and clients.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transform: referToNamedSchemas,
    transformObject: restoreExamples,
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Coffee Shop API',
        version: '1.0.0',
        description:
          'User management and authentication for the Coffee Shop backend: sign up, verify the e-mail address, log in, refresh tokens, and let admins manage users. Errors are `{detail, code}`.',
      },
      tags: [
        { name: 'auth', description: 'Sign-up, e-mail verification, login and tokens' },
        {
          name: 'users',
          description:
            'The signed-in user, their sessions and two-factor authentication, and user management for admins',
        },
        { name: 'audit', description: 'The audit log of security events, for admins' },
        { name: 'operations', description: 'Health and metrics' },
        {
          name: 'keys',
          description: 'Public keys and metadata, so other services can verify access tokens',
        },
      ],
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: {
            type: 'oauth2',
            description:
              'Log in with e-mail (as username) and password; send the access token as `Authorization: Bearer …`.',
            flows: { password: { tokenUrl: `${API_VERSION_PREFIX}/auth/login`, scopes: {} } },
          },
        },
      },
    },
  })
}

/**
 * Builds the whole HTTP application without listening, from the services the composition
 * root made (composition.ts `composeApi`, which the server and the tests call).
 */
export async function buildApp(deps: AppDeps) {
  const { config, database, clock, metrics, services } = deps
  const app = createFastify(deps)
  registerValidation(app)
  registerErrorHandlers(app, {
    onUnexpected: (error, request) =>
      deps.errorReporter?.capture(error, {
        requestId: request.id,
        method: request.method,
        route: request.routeOptions.url ?? '(unmatched)',
      }),
  })
  registerGracefulClose(app)
  await registerSecurity(app, config)
  registerNoStore(app)
  registerAdminMfaRule(app, config)
  // Before any route: limits attach to routes as they are added.
  const loginThrottleFor = await registerRateLimits(app, { config, clock })
  await registerOpenApi(app)
  registerMetrics(app, metrics, config)

  const { keyStore } = services
  // Loaded before the first request; stopped (timer, listening connection) with the app.
  await keyStore.start()
  app.addHook('onClose', () => keyStore.stop())
  await services.authCache.start()
  app.addHook('onClose', () => services.authCache.stop())
  await app.register(healthRoutes, {
    prefix: '/health',
    ping: () => database.ping(READY_TIMEOUT_MS),
    signingProblem: keyStore.problem,
  })
  await app.register(wellKnownRoutes, { prefix: '/.well-known', config, keys: keyStore })
  await app.register(docsRoutes)
  // The API proper: listed under /v1, and served unversioned as hidden aliases.
  const apiRoutes = async (api: FastifyInstance) => {
    await api.register(authRoutes, { prefix: '/auth', services, loginThrottleFor })
    await api.register(usersRoutes, { prefix: '/users', services, loginThrottleFor })
    await api.register(sessionsRoutes, { prefix: '/users', services })
    await api.register(auditRoutes, { services })
    await api.register(mfaRoutes, { services, loginThrottleFor })
  }
  await app.register(apiRoutes, { prefix: API_VERSION_PREFIX })
  await app.register(async (aliases) => {
    markAsUnversionedAliases(aliases)
    await apiRoutes(aliases)
  })
  return app
}
