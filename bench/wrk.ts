/**
 * The load generator: wrk (C, event loop per thread), driven by a Lua script generated per
 * scenario. The script sets the request (method, path, headers, body, bearer tokens) and
 * reports through wrk's `done()` hook as one JSON line, so nothing depends on wrk's text.
 */
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface WrkRequest {
  method?: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
  /** One token: sent on every request. Several: cycled, a different one per request. */
  bearerTokens?: string[]
  /**
   * Time every 2xx answer in wrk's `response()` hook, for slow calls (login): throughput
   * is then the rate between the first and the last 2xx, without the ramp-up. Costs the
   * generator a Lua call per answer, so only for scenarios of a few hundred req/s at most.
   */
  steadyState?: boolean
}

/** What the generated `done()` prints, after the marker, as one line of JSON. */
export interface WrkReport {
  requests: number
  durationUs: number
  errors: { connect: number; read: number; write: number; status: number; timeout: number }
  latencyUs: { p50: number; p99: number; mean: number; max: number }
  /** utime + stime of the wrk process in clock ticks, read from /proc/self/stat; -1 if not. */
  cpuTicks: number
  /** Only with `steadyState`: 2xx and other answers, first and last 2xx (monotonic µs). */
  steady: { ok: number; other: number; firstUs: number; lastUs: number } | null
}

export const WRK_MARKER = '@@bench-wrk '

/** A Lua string literal: every byte outside printable ASCII, quote and backslash as \ddd. */
export function luaString(value: string): string {
  let out = '"'
  for (const byte of Buffer.from(value, 'utf8')) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
    out += printable ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`
  }
  return `${out}"`
}

const STEADY_STATE_LUA = `
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function monotonic_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: the same clock in every thread
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end
bench_ok, bench_other, bench_first, bench_last = 0, 0, 0, 0
function response(status, headers, body)
  if status >= 200 and status < 300 then
    local now = monotonic_us()
    if bench_ok == 0 then bench_first = now end
    bench_last = now
    bench_ok = bench_ok + 1
  else
    bench_other = bench_other + 1
  end
end
`

/** Cycling starts at a different place in each thread, so threads do not send in step. */
const CYCLING_LUA = `
local next_token = 0
function init(args)
  next_token = (bench_thread_index or 0) * 7919
end
function request()
  next_token = next_token + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(next_token % #tokens) + 1]
  return wrk.format()
end
`

const DONE_LUA = `
local threads = {}
function setup(thread)
  thread:set("bench_thread_index", #threads)
  table.insert(threads, thread)
end

local function cpu_ticks()
  local file = io.open("/proc/self/stat", "r")
  if not file then return -1 end
  local stat = file:read("*l") or ""
  file:close()
  local fields = {}
  for field in (stat:match("%)%s+(.*)$") or ""):gmatch("%S+") do fields[#fields + 1] = field end
  local utime, stime = tonumber(fields[12]), tonumber(fields[13])
  if not utime or not stime then return -1 end
  return utime + stime
end

function done(summary, latency, requests)
  local steady = "null"
  if STEADY then
    local ok, other, first, last = 0, 0, nil, nil
    for _, thread in ipairs(threads) do
      local count = thread:get("bench_ok") or 0
      ok = ok + count
      other = other + (thread:get("bench_other") or 0)
      if count > 0 then
        local f, l = thread:get("bench_first"), thread:get("bench_last")
        if first == nil or f < first then first = f end
        if last == nil or l > last then last = l end
      end
    end
    steady = string.format('{"ok":%d,"other":%d,"firstUs":%.0f,"lastUs":%.0f}',
      ok, other, first or 0, last or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '\\n${WRK_MARKER}{"requests":%d,"durationUs":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p99":%d,"mean":%.1f,"max":%d},"cpuTicks":%d,"steady":%s}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    cpu_ticks(), steady))
end
`

/** The Lua script for one request; tokens, if any, are read from `tokensFile`. */
export function wrkScript(request: WrkRequest, tokensFile?: string): string {
  const lines = ['-- Generated by bench/wrk.ts; wrk runs it once per thread and once to report.']
  lines.push(`wrk.method = ${luaString(request.method ?? 'GET')}`)
  lines.push(`wrk.path = ${luaString(request.path)}`)
  if (request.body !== undefined) lines.push(`wrk.body = ${luaString(request.body)}`)
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`)
  }
  const tokens = request.bearerTokens ?? []
  if (tokens.length > 0) {
    if (tokensFile === undefined) throw new Error('bearer tokens need a tokens file')
    lines.push('tokens = {}')
    lines.push(`for line in io.lines(${luaString(tokensFile)}) do`)
    lines.push('  if #line > 0 then tokens[#tokens + 1] = line end')
    lines.push('end')
    // One token: a static request, built once; several: wrk calls request() every time.
    if (tokens.length === 1) lines.push('wrk.headers["Authorization"] = "Bearer " .. tokens[1]')
    else lines.push(CYCLING_LUA)
  }
  lines.push(`STEADY = ${request.steadyState === true}`)
  if (request.steadyState) lines.push(STEADY_STATE_LUA)
  lines.push(DONE_LUA)
  return `${lines.join('\n')}\n`
}

/** Writes `<name>.lua` (and `<name>.tokens`) into `directory`; returns the script's path. */
export function writeWrkScript(directory: string, name: string, request: WrkRequest): string {
  const safe = name.replace(/[^a-z0-9-]/gi, '_')
  const tokens = request.bearerTokens ?? []
  const tokensFile = tokens.length > 0 ? join(directory, `${safe}.tokens`) : undefined
  if (tokensFile) {
    if (tokens.some((token) => !/^[\w.-]+$/.test(token))) {
      throw new Error('bearer tokens must be JWT-shaped (base64url and dots)')
    }
    writeFileSync(tokensFile, `${tokens.join('\n')}\n`)
  }
  const script = join(directory, `${safe}.lua`)
  writeFileSync(script, wrkScript(request, tokensFile))
  return script
}

const count = (value: unknown, what: string): number => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < -1) {
    throw new Error(`wrk report: ${what} is not a number`)
  }
  return value
}

/** The report line of the generated `done()` in wrk's output; throws if there is none. */
export function parseWrkReport(output: string): WrkReport {
  const line = output.split('\n').find((l) => l.startsWith(WRK_MARKER))
  if (line === undefined) throw new Error(`wrk printed no report:\n${output.slice(-2_000)}`)
  const raw = JSON.parse(line.slice(WRK_MARKER.length)) as Record<string, Record<string, unknown>>
  const errors = raw.errors ?? {}
  const latency = raw.latencyUs ?? {}
  const steady = raw.steady ?? null
  return {
    requests: count(raw.requests, 'requests'),
    durationUs: count(raw.durationUs, 'durationUs'),
    errors: {
      connect: count(errors.connect, 'errors.connect'),
      read: count(errors.read, 'errors.read'),
      write: count(errors.write, 'errors.write'),
      status: count(errors.status, 'errors.status'),
      timeout: count(errors.timeout, 'errors.timeout'),
    },
    latencyUs: {
      p50: count(latency.p50, 'latency p50'),
      p99: count(latency.p99, 'latency p99'),
      mean: count(latency.mean, 'latency mean'),
      max: count(latency.max, 'latency max'),
    },
    cpuTicks: count(raw.cpuTicks, 'cpuTicks'),
    steady:
      steady === null
        ? null
        : {
            ok: count(steady.ok, 'steady.ok'),
            other: count(steady.other, 'steady.other'),
            firstUs: count(steady.firstUs, 'steady.firstUs'),
            lastUs: count(steady.lastUs, 'steady.lastUs'),
          },
  }
}

export interface WrkRun {
  /** The report once wrk has exited (after its duration, or after `stop()`). */
  done: Promise<WrkReport>
  /** SIGINT: wrk stops sending, then reports what it measured so far. */
  stop(): void
}

export interface WrkOptions {
  url: string
  script: string
  connections: number
  threads: number
  seconds: number
  timeoutSeconds: number
  /** taskset CPU list for the generator (e.g. "1"), or null to let the kernel place it. */
  cpus: string | null
}

/** Starts wrk (under taskset when pinned); its output is parsed when it exits. */
export function startWrk(options: WrkOptions): WrkRun {
  const args = [
    ...['-t', String(options.threads), '-c', String(options.connections)],
    ...['-d', `${Math.max(1, Math.round(options.seconds))}s`],
    ...['--timeout', `${options.timeoutSeconds}s`, '-s', options.script, options.url],
  ]
  const command = options.cpus === null ? 'wrk' : 'taskset'
  const argv = options.cpus === null ? args : ['-c', options.cpus, 'wrk', ...args]
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const done = new Promise<WrkReport>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${code ?? signal}:\n${output}`))
      try {
        resolve(parseWrkReport(output))
      } catch (error) {
        reject(error)
      }
    })
  })
  return { done, stop: () => child.kill('SIGINT') }
}

const hasWrk = () => spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0

/**
 * Makes sure wrk is installed: Debian's package, installed with apt-get when missing (root
 * only; it says so). Returns wrk's version line.
 */
export function ensureWrk(log: (message: string) => void): string {
  if (!hasWrk()) {
    if (process.getuid?.() !== 0) {
      throw new Error('wrk is not installed; install it with `sudo apt-get install -y wrk`')
    }
    log("wrk is not installed: installing Debian's package (apt-get install -y wrk)")
    const apt = (...args: string[]) =>
      spawnSync('apt-get', args, {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      }).status === 0
    // A fresh container has no package lists yet: update once, then retry.
    if (!apt('install', '-y', 'wrk') && !(apt('update') && apt('install', '-y', 'wrk'))) {
      throw new Error('apt-get install -y wrk failed')
    }
    if (!hasWrk()) throw new Error('wrk is still missing after apt-get install')
  }
  // `wrk -v` prints its version and usage, and exits with 1.
  const version = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  const first = `${version.stdout}${version.stderr}`.split('\n')[0] ?? ''
  return first.replace(/\s*Copyright.*$/, '').trim() || 'wrk'
}
