import type { Mailer } from '../../src/mailer.js'
import type { Metrics } from '../../src/metrics.js'
import type { Repositories } from '../../src/repositories/index.js'
import { createServices } from '../../src/services/index.js'
import type { TestApp } from './app.js'

type RepositoryName = Exclude<keyof Repositories, 'transaction'>

/**
 * `repositories` with one method that fails inside transactions: its `onCall`-th call there
 * (the first by default) throws `failure` instead of running, as a bug or a lost connection
 * would halfway through a use case. Every other call, and everything outside a
 * transaction, goes to the real repositories. With `after`, that call runs first and
 * then throws, so the failure comes after its write (an audit event written, then lost).
 */
export function failingInTransaction<Name extends RepositoryName>(
  repositories: Repositories,
  name: Name,
  method: keyof Repositories[Name] & string,
  onCall = 1,
  options: { after?: boolean } = {},
) {
  const failure = new Error(`injected failure: ${name}.${method}`)
  let calls = 0

  const failing = (bundle: Repositories): Repositories => {
    const repository = bundle[name] as Record<string, (...args: unknown[]) => Promise<unknown>>
    const original = repository[method]
    if (!original) throw new Error(`${name} has no method ${method}`)
    return {
      ...bundle,
      [name]: {
        ...repository,
        [method]: (...args: unknown[]) => {
          calls += 1
          if (calls !== onCall) return original(...args)
          if (!options.after) return Promise.reject(failure)
          return original(...args).then(() => Promise.reject(failure))
        },
      },
      transaction: (work) => bundle.transaction((tx) => work(failing(tx))),
    }
  }

  return {
    repositories: {
      ...repositories,
      transaction: (work) => repositories.transaction((tx) => work(failing(tx))),
    } satisfies Repositories,
    failure,
    /** Calls of the method inside transactions so far (the failing one included). */
    calls: () => calls,
  }
}

/** Takes e-mail and drops it (the app's noMail throws: a sign-up that succeeds sends one). */
const droppedMail: Mailer = { send: async () => {}, dispatch: () => {}, close: async () => {} }

/**
 * `t`'s services over its database, wired with `repositories` (and, when given, `metrics`),
 * their e-mail dropped.
 */
export const servicesOver = (t: TestApp, repositories: Repositories, metrics?: Metrics) =>
  createServices({
    config: t.config,
    database: t.database,
    mailer: droppedMail,
    clock: t.clock,
    repositories,
    ...(metrics ? { metrics } : {}),
  })
