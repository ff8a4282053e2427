import { spawn } from 'node:child_process'
import type { CleanupResult } from '../src/services/cleanup.js'
import { type LoadGenerator, type LoadRequest, type LoadResult, startLoad } from './load.js'
import type { ChildServer } from './processes.js'

export interface CleanupCaseResult {
  staleUsers: number
  counts: CleanupResult['counts']
  /** As the service measured it; the process start is not included. */
  durationMs: number
  /** GET /users/me while the cleanup ran. */
  me: LoadResult
  peakRssBytes: number
}

function runCleanupProcess(databaseUrl: string): Promise<CleanupResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cleanup-worker.ts'], {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      const line = output.trim().split('\n').pop() ?? ''
      try {
        if (code !== 0) throw new Error(`exit ${code}`)
        resolve(JSON.parse(line) as CleanupResult)
      } catch (error) {
        reject(new Error(`cleanup process failed (${String(error)}):\n${output.slice(-4_000)}`))
      }
    })
  })
}

/**
 * The cleanup of issue 5 at scale: one round deleting every stale user, in its own process
 * (like `npm run worker`), while wrk keeps GET /users/me busy on the API.
 */
export async function runCleanupCase(options: {
  api: ChildServer
  generator: LoadGenerator
  databaseUrl: string
  staleUsers: number
  me: LoadRequest
}): Promise<CleanupCaseResult> {
  const { api } = options
  const window = api.trackRss()
  const load = startLoad(options.generator, api, 'cleanup', options.me)
  // Settled either way, so a failed cleanup leaves no load running.
  const outcome = await runCleanupProcess(options.databaseUrl).then(
    (value) => ({ value, error: null }),
    (error: unknown) => ({ value: null, error }),
  )
  const me = await load.stop()
  const result = outcome.value
  if (result === null) throw outcome.error
  return {
    staleUsers: options.staleUsers,
    counts: result.counts,
    durationMs: result.durationMs,
    me,
    peakRssBytes: window.stop(),
  }
}
