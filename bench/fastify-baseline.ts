/**
 * Fastify's own floor: plain Fastify (no plugins, no schemas, no logger) serving the same
 * GET /users/me work as the bare node:http baseline (bench/bare-users-me.ts) and the same
 * ping on GET /health/live. Between it and the API is what the application adds; between
 * it and the node:http baseline is what Fastify costs.
 * Run as its own process: DATABASE_URL, SECRET_KEY, PORT (JWT_ISSUER, JWT_AUDIENCE).
 */
import Fastify from 'fastify'
import { createBareUsersMe } from './bare-users-me.js'

const usersMe = createBareUsersMe()
const app = Fastify({ logger: false })

app.get('/health/live', async () => ({ status: 'ok' }))
app.get('/users/me', async (request, reply) => {
  const { status, body } = await usersMe.answer(request.headers.authorization)
  return reply.code(status).send(body)
})

await app.listen({ port: Number(process.env.PORT ?? 8101), host: '127.0.0.1' })
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => usersMe.close())
    .then(() => process.exit(0))
})
