import { clockTicksPerSecond, cpuWindow, waitUntilIdle } from './cpu.js'
import type { ChildServer } from './processes.js'
import { startWrk, type WrkReport, type WrkRequest, writeWrkScript } from './wrk.js'

export type LoadRequest = WrkRequest

export interface LoadResult {
  /** 2xx answers per second. */
  requestsPerSecond: number
  /** Milliseconds, every answer (wrk's latency histogram, microsecond resolution). */
  p50Ms: number
  p99Ms: number
  /** 2xx answers. */
  requests: number
  /** Answers with status 400 or more (all non-2xx with `steadyState`). */
  non2xx: number
  /** Connect, read and write errors and timeouts. */
  errors: number
  /** CPU of the wrk process over its run, in cores (1.0 = one core all the time). */
  generatorCores: number | null
}

/** One measured run: the load, the server's peak RSS and the CPU use of everyone. */
export interface MeasuredRun extends LoadResult {
  peakRssBytes: number
  serverCores: number | null
  machineBusyCores: number | null
}

/** How wrk is run: the same for every scenario of a bench run. */
export interface LoadGenerator {
  /** Where the generated Lua scripts go (a temporary directory). */
  scriptDirectory: string
  threads: number
  connections: number
  /** taskset CPU list for wrk, or null. */
  cpus: string | null
  /** All cores, for the machine's busy share. */
  cores: number
}

// Login at cost 12 queues ~5 s per request with 50 connections: far under this.
const TIMEOUT_SECONDS = 30
let scripts = 0

/** wrk's report as the bench's figures; throughput from the steady state when timed. */
export function toLoadResult(report: WrkReport, ticksPerSecond: number): LoadResult {
  const seconds = report.durationUs / 1_000_000
  const { steady, errors } = report
  const ok = steady ? steady.ok : report.requests - errors.status
  const requestsPerSecond =
    steady && steady.ok > 1 && steady.lastUs > steady.firstUs
      ? ((steady.ok - 1) * 1_000_000) / (steady.lastUs - steady.firstUs)
      : seconds > 0
        ? ok / seconds
        : 0
  return {
    requestsPerSecond,
    p50Ms: report.latencyUs.p50 / 1000,
    p99Ms: report.latencyUs.p99 / 1000,
    requests: ok,
    non2xx: steady ? steady.other : errors.status,
    errors: errors.connect + errors.read + errors.write + errors.timeout,
    generatorCores:
      report.cpuTicks >= 0 && seconds > 0 ? report.cpuTicks / ticksPerSecond / seconds : null,
  }
}

function runWrk(generator: LoadGenerator, baseUrl: string, script: string, seconds: number) {
  return startWrk({
    url: baseUrl,
    script,
    connections: generator.connections,
    threads: generator.threads,
    seconds,
    timeoutSeconds: TIMEOUT_SECONDS,
    cpus: generator.cpus,
  })
}

const scriptFor = (generator: LoadGenerator, name: string, request: LoadRequest) =>
  writeWrkScript(generator.scriptDirectory, `${name}-${++scripts}`, request)

/**
 * wrk for `seconds` after a warm-up, with the server's peak RSS and everyone's CPU over the
 * measured part. Requests still queued in the server when wrk stops keep it busy (a login
 * queue drains for seconds), so each run is followed by a wait until the server is idle.
 */
export async function measure(options: {
  generator: LoadGenerator
  server: ChildServer
  name: string
  request: LoadRequest
  seconds: number
  warmupSeconds: number
}): Promise<MeasuredRun> {
  const { generator, server, request } = options
  const script = scriptFor(generator, options.name, request)
  await probe(server.baseUrl, request)
  await runWrk(generator, server.baseUrl, script, options.warmupSeconds).done
  await drain(server, request)
  const rss = server.trackRss()
  const cpu = cpuWindow(server.pid, generator.cores)
  const report = await runWrk(generator, server.baseUrl, script, options.seconds).done
  const { serverCores, machineBusyCores } = cpu.stop()
  const peakRssBytes = rss.stop()
  await drain(server, request)
  return {
    ...toLoadResult(report, clockTicksPerSecond()),
    peakRssBytes,
    serverCores,
    machineBusyCores,
  }
}

/** The request as fetch sends it, with the first bearer token. */
function send(baseUrl: string, request: LoadRequest): Promise<Response> {
  const token = request.bearerTokens?.[0]
  return fetch(`${baseUrl}${request.path}`, {
    method: request.method ?? 'GET',
    headers: { ...request.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: request.body,
  })
}

/** One request first: a wrong status fails the scenario instead of measuring errors. */
async function probe(baseUrl: string, request: LoadRequest) {
  const response = await send(baseUrl, request)
  const body = await response.text()
  if (!response.ok) {
    throw new Error(`${request.method ?? 'GET'} ${request.path}: ${response.status} ${body}`)
  }
}

/**
 * Waits until the server has finished what the last run left queued (a login queue takes
 * seconds to drain after wrk stops), then checks it still answers.
 */
async function drain(server: ChildServer, request: LoadRequest) {
  await waitUntilIdle(server.pid)
  await probe(server.baseUrl, request)
}

/** Load until `stop()` (at most an hour), for a window whose length is set by other work. */
export function startLoad(
  generator: LoadGenerator,
  server: ChildServer,
  name: string,
  request: LoadRequest,
) {
  const run = runWrk(generator, server.baseUrl, scriptFor(generator, name, request), 3_600)
  return {
    async stop(): Promise<LoadResult> {
      run.stop()
      const result = toLoadResult(await run.done, clockTicksPerSecond())
      await drain(server, request)
      return result
    },
  }
}

/**
 * One request at a time, alternating between the given requests, `count` times each after
 * `count / 10` warm-up rounds: p50 and p99 of a single call with microsecond resolution
 * and no queueing in them. Alternating spreads any drift (a checkpoint, another process)
 * over all of them alike.
 */
export async function measureSerial(
  baseUrl: string,
  requests: LoadRequest[],
  count: number,
): Promise<{ p50Ms: number; p99Ms: number }[]> {
  const call = async (request: LoadRequest) => {
    const response = await send(baseUrl, request)
    await response.arrayBuffer()
    if (!response.ok) throw new Error(`${request.path}: status ${response.status}`)
  }
  for (let i = 0; i < Math.ceil(count / 10); i++) {
    for (const request of requests) await call(request)
  }
  const samples = requests.map((): number[] => [])
  for (let i = 0; i < count; i++) {
    for (const [index, request] of requests.entries()) {
      const started = performance.now()
      await call(request)
      samples[index]?.push(performance.now() - started)
    }
  }
  return samples.map((list) => {
    list.sort((a, b) => a - b)
    const at = (q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0
    return { p50Ms: at(0.5), p99Ms: at(0.99) }
  })
}
