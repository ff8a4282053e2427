import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ChildServer {
  name: string
  pid: number
  port: number
  baseUrl: string
  /** Starts a peak-RSS window; `stop()` returns that window's peak in bytes. */
  trackRss(): { stop(): number }
  /** Lifetime peak RSS (VmHWM) in bytes. */
  peakRss(): number
  /** Resident now (VmRSS) in bytes. */
  rss(): number
  /** SIGTERM, then wait for the exit (SIGKILL after a grace period). */
  stop(): Promise<void>
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** A field of /proc/<pid>/status in bytes (Linux); 0 elsewhere or once the process is gone. */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return match?.[1] ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Resets VmHWM so a window's peak can be read directly; false when the kernel refuses. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function rssWindow(pid: number) {
  // Polling catches the peak only approximately; VmHWM after a reset is exact.
  const exact = resetPeak(pid)
  let peak = statusBytes(pid, 'VmRSS')
  const timer = setInterval(() => {
    peak = Math.max(peak, statusBytes(pid, 'VmRSS'))
  }, 100)
  return {
    stop() {
      clearInterval(timer)
      peak = Math.max(peak, statusBytes(pid, 'VmRSS'))
      return exact ? Math.max(peak, statusBytes(pid, 'VmHWM')) : peak
    },
  }
}

async function waitReady(url: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`server exited with ${child.exitCode} before it was ready:\n${output()}`)
    }
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {}
    await sleep(200)
  }
  throw new Error(`server not ready at ${url} after 60 s:\n${output()}`)
}

/**
 * Starts `node --import tsx <entry>` (a `.js` entry, or node arguments that already load tsx,
 * without adding it) and waits for GET /health/live.
 */
export async function startServer(options: {
  name: string
  entry: string
  env: Record<string, string>
  nodeArgs?: string[]
  /** Only PATH and HOME from the bench's environment: a server with its defaults. */
  cleanEnv?: boolean
}): Promise<ChildServer> {
  const port = await freePort()
  const nodeArgs = options.nodeArgs ?? []
  const loader =
    options.entry.endsWith('.js') || nodeArgs.includes('tsx') ? [] : ['--import', 'tsx']
  const inherited = options.cleanEnv
    ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' }
    : process.env
  const child = spawn(process.execPath, [...nodeArgs, ...loader, options.entry], {
    env: { ...inherited, ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let tail = ''
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-8_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    await waitReady(`${baseUrl}/health/live`, child, () => tail)
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  const pid = child.pid ?? 0
  return {
    name: options.name,
    pid,
    port,
    baseUrl,
    trackRss: () => rssWindow(pid),
    peakRss: () => statusBytes(pid, 'VmHWM'),
    rss: () => statusBytes(pid, 'VmRSS'),
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}
