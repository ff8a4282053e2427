import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { cspHeader } from '../plugins/security.js'

const require = createRequire(import.meta.url)

/**
 * ReDoc's standalone bundle would fetch a logo from its CDN; this CSP, the site-wide
 * directives that concern loading, keeps the page local.
 */
const REDOC_CSP = cspHeader([
  'defaultSrc',
  'scriptSrc',
  'styleSrc',
  'imgSrc',
  'fontSrc',
  'workerSrc',
  'connectSrc',
])

const redocPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Coffee Shop API — ReDoc</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script>
</body>
</html>`

/** `/openapi.json`, Swagger UI at `/docs` and ReDoc at `/redoc`, all from installed packages. */
export async function docsRoutes(app: FastifyInstance) {
  const redocBundle = await readFile(require.resolve('redoc/bundles/redoc.standalone.js'))

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
    staticCSP: true,
  })

  app.get('/redoc', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .header('content-security-policy', REDOC_CSP)
      .type('text/html; charset=utf-8')
      .send(redocPage),
  )
  app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .header('cache-control', 'public, max-age=86400')
      .type('application/javascript; charset=utf-8')
      .send(redocBundle),
  )
}
