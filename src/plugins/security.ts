import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'
import type { Config } from '../core/config.js'

/**
 * Strict enough for a JSON API and still enough for the documentation pages: Swagger UI
 * loads its scripts from this origin and injects styles. `/docs` and `/redoc` send their own
 * CSP, which replaces this one on those pages (ReDoc's is built from these directives).
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
} as const satisfies Record<string, readonly string[]>

type CspDirective = keyof typeof CSP_DIRECTIVES

/** A CSP header value made of some of the site-wide directives, in the order given. */
export function cspHeader(names: readonly CspDirective[]): string {
  const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
  return names.map((name) => `${kebab(name)} ${CSP_DIRECTIVES[name].join(' ')}`).join('; ')
}

const HELMET_OPTIONS: HelmetOptions = {
  // No upgrade-insecure-requests: TLS ends at the proxy, and it would break plain-HTTP local use.
  contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
}

/**
 * The headers helmet sets, computed once: every directive is static, so every response
 * gets the same ones. (@fastify/helmet rebuilt the whole middleware on each request, an
 * eighth of the JavaScript time of `GET /users/me`; see docs/benchmark.md.)
 */
function helmetHeaders(options: HelmetOptions): [string, string][] {
  const headers = new Map<string, string>()
  const response = {
    setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return [...headers]
}

/**
 * Security headers and `X-Request-Id` on every response, and CORS only for the configured
 * origins. One hook for all of them: each hook is a step of Fastify's per-request loop.
 */
export async function registerSecurity(app: FastifyInstance, config: Pick<Config, 'corsOrigins'>) {
  const headers = helmetHeaders(HELMET_OPTIONS)
  // Reply headers: a route that sends its own CSP (the docs pages) replaces this one, and
  // error responses keep them all. (Fastify hands them to `writeHead` in one go; set on the
  // raw response instead, Node would check each one twice.)
  app.addHook('onRequest', (request, reply, done) => {
    for (const [name, value] of headers) reply.header(name, value)
    reply.header('x-request-id', request.id)
    done()
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
