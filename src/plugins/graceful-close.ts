import type { FastifyInstance } from 'fastify'

/**
 * Once close() starts, responses carry `Connection: close`. Fastify closes the connections
 * that are idle at that moment, but a keep-alive connection whose request was still in
 * flight would otherwise stay open for the whole keep-alive timeout (72 s), holding the
 * shutdown past any orchestrator's grace period.
 */
export function registerGracefulClose(app: FastifyInstance) {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}
