import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { npmStartCommand } from './api.js'
import { startServer } from './processes.js'

/** Resident memory of the embedded default, once started and left alone. */
export interface EmbeddedIdleRun {
  /** First start on an empty data folder (PGlite creates its database, migrations run). */
  firstStartIdleRssBytes: number
  /** The next start on that folder, the everyday case. */
  restartIdleRssBytes: number
  /** VmHWM over both starts: what the start itself needs. */
  startPeakRssBytes: number
}

/**
 * `npm start` as a newcomer runs it: no DATABASE_URL (embedded PGlite), no settings at all
 * but a data folder of its own; started twice, RSS read `settleSeconds` after each is ready.
 */
export async function measureEmbeddedIdle(settleSeconds: number): Promise<EmbeddedIdleRun> {
  const { nodeArgs, entry } = npmStartCommand()
  const dataDir = mkdtempSync(join(tmpdir(), 'coffee-bench-embedded-'))
  const once = async () => {
    const server = await startServer({
      name: 'embedded',
      entry,
      nodeArgs,
      env: { DATA_DIR: dataDir },
      cleanEnv: true,
    })
    try {
      await sleep(settleSeconds * 1000)
      return { idle: server.rss(), peak: server.peakRss() }
    } finally {
      await server.stop()
    }
  }
  try {
    const first = await once()
    const again = await once()
    return {
      firstStartIdleRssBytes: first.idle,
      restartIdleRssBytes: again.idle,
      startPeakRssBytes: Math.max(first.peak, again.peak),
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}
