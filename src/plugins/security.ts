import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../core/config.js'

/**
 * Strict enough for a JSON API and still enough for the documentation pages: Swagger UI
 * loads its scripts from this origin and injects styles. `/docs` and `/redoc` send their own,
 * tighter CSP, which replaces this one on those pages.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  workerSrc: ["'self'", 'blob:'],
}

/** Security headers on every response, and CORS only for the configured origins. */
export async function registerSecurity(app: FastifyInstance, config: Pick<Config, 'corsOrigins'>) {
  await app.register(helmet, {
    // No upgrade-insecure-requests: TLS ends at the proxy, and it would break plain-HTTP local use.
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  })
  if (config.corsOrigins.length === 0) return
  await app.register(cors, {
    origin: [...config.corsOrigins],
    // Bearer tokens travel in a header, never in cookies: no credentialed CORS needed.
    credentials: false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
    maxAge: 600,
  })
}
