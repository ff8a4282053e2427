import type { Clock } from '../core/clock.js'
import type { Config } from '../core/config.js'
import type { Database } from '../db/client.js'
import type { Mailer } from '../mailer.js'
import { createUsersRepository } from '../repositories/users.js'
import { createTokensService } from './tokens.js'

export interface ServiceDeps {
  config: Readonly<Config>
  database: Database
  mailer: Mailer
  clock: Clock
}

/** The one place where repositories and services are wired; the app, worker and CLI share it. */
export function createServices({ config, database, clock }: ServiceDeps) {
  const users = createUsersRepository(database.db)
  const tokens = createTokensService({ config, clock, users })
  return { tokens }
}

export type Services = ReturnType<typeof createServices>
