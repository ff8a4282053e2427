import { pino } from 'pino'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import type { Database } from '../../src/db/client.js'
import { users } from '../../src/db/schema.js'
import { createScheduler, type SchedulerDeps } from '../../src/scheduler.js'
import type { TestApp } from '../helpers/app.js'
import { cleaned, cleanupRows, HOUR, useCleanupApp } from '../helpers/cleanup-rows.js'

// The scheduler runs the cleanup on a timer, one round at a time across instances, and
// stops between batches; what a round deletes is in cleanup.test.ts.

const app = useCleanupApp()
let t: TestApp
let other: Database
beforeAll(() => {
  ;({ t, other } = app)
})

const { ago, makeUser, makeStaleUsers, userIds, countRows } = cleanupRows(() => t)

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  return { logger, lines }
}

function schedulerDeps(database: Database, overrides: Partial<SchedulerDeps> = {}): SchedulerDeps {
  return {
    database,
    config: t.config,
    clock: t.clock,
    logger: capturingLogger().logger,
    ...overrides,
  }
}

/** A promise with its resolver, to hold one worker inside its round while another tries. */
function gate() {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

describe('the cleanup scheduler', () => {
  it('runs one round at a time across instances: the other one skips', async () => {
    await makeStaleUsers(5)
    const holding = gate()
    const release = gate()
    const first = createScheduler(
      schedulerDeps(t.database, {
        batchSize: 2,
        onDeleted: async () => {
          holding.open()
          await release.opened
        },
      }),
    )
    const second = createScheduler(schedulerDeps(other))

    const firstRun = first.runOnce()
    await holding.opened // the first instance is inside its round, holding the lock
    const secondOutcome = await second.runOnce()
    release.open()
    const firstOutcome = await firstRun

    expect(secondOutcome).toEqual({ status: 'skipped' })
    expect(firstOutcome).toMatchObject({
      status: 'ran',
      counts: cleaned({ unverifiedUsers: 5 }),
    })
    // The lock is free again once the round is over.
    await makeStaleUsers(1)
    expect(await second.runOnce()).toMatchObject({ status: 'ran', counts: { unverifiedUsers: 1 } })
  })

  it('two instances started together delete each row once and neither fails', async () => {
    await makeStaleUsers(2_500)
    const outcomes = await Promise.all([
      createScheduler(schedulerDeps(t.database)).runOnce(),
      createScheduler(schedulerDeps(other)).runOnce(),
    ])
    const deleted = outcomes.reduce(
      (sum, o) => sum + (o.status === 'ran' ? o.counts.unverifiedUsers : 0),
      0,
    )
    expect(deleted).toBe(2_500)
    expect(outcomes.some((o) => o.status === 'ran')).toBe(true)
    expect(await countRows(users)).toBe(0)
  })

  it('repeats every interval and logs one line per round with counts and duration', async () => {
    const { logger, lines } = capturingLogger()
    const scheduler = createScheduler(
      schedulerDeps(t.database, { logger, config: { ...t.config, cleanupIntervalMs: 20 } }),
    )
    const first = await makeUser({ createdAt: ago(2 * HOUR) })
    scheduler.start()
    try {
      await vi.waitFor(async () => expect(await userIds()).not.toContain(first), {
        timeout: 10_000,
      })
      const second = await makeUser({ createdAt: ago(2 * HOUR) })
      await vi.waitFor(async () => expect(await userIds()).not.toContain(second), {
        timeout: 10_000,
      })
    } finally {
      await scheduler.stop()
    }
    const rounds = lines.filter((line) => typeof line.durationMs === 'number')
    expect(rounds.filter((line) => line.unverifiedUsers === 1)).toHaveLength(2)
    expect(rounds[0]).toMatchObject({
      codes: 0,
      codeSends: 0,
      sessions: 0,
      refreshTokens: 0,
      interrupted: false,
    })
    expect(rounds[0]?.msg).toMatch(
      /^cleanup: \d+ unverified users, 0 codes, 0 code send records, 0 sessions, 0 refresh tokens/,
    )
  })

  it('stop() lets the batch in flight finish, then ends the round', async () => {
    await makeStaleUsers(6)
    const { logger, lines } = capturingLogger()
    const holding = gate()
    const release = gate()
    const scheduler = createScheduler(
      schedulerDeps(t.database, {
        logger,
        batchSize: 2,
        onDeleted: async () => {
          holding.open()
          await release.opened
        },
      }),
    )
    scheduler.start()
    await holding.opened
    const stopped = scheduler.stop()
    release.open()
    await stopped
    expect(await countRows(users)).toBe(4)
    expect(lines.find((line) => typeof line.durationMs === 'number')).toMatchObject({
      unverifiedUsers: 2,
      interrupted: true,
    })
  })
})
