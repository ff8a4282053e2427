/**
 * The floor for GET /users/me and GET /health/live: a bare node:http server doing the work
 * of bench/bare-users-me.ts, and a ping that answers `{"status":"ok"}` and touches nothing.
 * Run as its own process: DATABASE_URL, SECRET_KEY, PORT (JWT_ISSUER, JWT_AUDIENCE).
 */
import { createServer, type ServerResponse } from 'node:http'
import { createBareUsersMe } from './bare-users-me.js'

const usersMe = createBareUsersMe()

function send(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
}

const server = createServer((request, response) => {
  if (request.url === '/health/live') return send(response, 200, { status: 'ok' })
  if (request.url !== '/users/me') return send(response, 404, { detail: 'Not Found' })
  void usersMe
    .answer(request.headers.authorization)
    .then(({ status, body }) => send(response, status, body))
})

server.listen(Number(process.env.PORT ?? 8100), '127.0.0.1')
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void usersMe.close().then(() => process.exit(0))
})
