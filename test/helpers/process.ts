import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export type LogRecord = Record<string, unknown> & { msg?: string }

/**
 * A child process whose JSON log lines (stdout) are collected, so a test can wait for "the
 * server received the request" instead of sleeping.
 */
export function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv) {
  const child: ChildProcess = spawn(command, args, {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const records: LogRecord[] = []
  const output: string[] = []
  const waiters = new Set<() => void>()
  const onLine = (line: string) => {
    output.push(line)
    try {
      records.push(JSON.parse(line) as LogRecord)
    } catch {}
    for (const wake of waiters) wake()
  }
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine)
  if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  let done = false
  void exited.then(() => {
    done = true
    for (const wake of waiters) wake()
  })

  return {
    child,
    records,
    /** Every line, JSON or not (a config error is a plain line on stderr). */
    output,
    exited,
    /** Resolves with the first log record matching `test`; rejects on exit or after `timeoutMs`. */
    waitForLog(test: (record: LogRecord) => boolean, timeoutMs = 90_000): Promise<LogRecord> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error('timed out')), timeoutMs)
        const finish = (error?: Error, record?: LogRecord) => {
          clearTimeout(timer)
          waiters.delete(check)
          if (record) resolve(record)
          else reject(new Error(`${error?.message}; output:\n${output.slice(-30).join('\n')}`))
        }
        const check = () => {
          const record = records.find(test)
          if (record) finish(undefined, record)
          else if (done) finish(new Error('process exited'))
        }
        waiters.add(check)
        check()
      })
    },
    /** Kills it if still running (test clean-up). */
    async kill() {
      if (!done) child.kill('SIGKILL')
      await exited
    },
  }
}
