import autocannon from 'autocannon'

export interface LoadRequest {
  method?: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

export interface LoadResult {
  requestsPerSecond: number
  /** Milliseconds, 2xx responses only (autocannon's resolution is 1 ms). */
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  errors: number
}

const options = (
  baseUrl: string,
  request: LoadRequest,
  connections: number,
  seconds: number,
): autocannon.Options => ({
  url: `${baseUrl}${request.path}`,
  method: request.method ?? 'GET',
  headers: request.headers,
  body: request.body,
  connections,
  duration: seconds,
  // Login at cost 12 queues ~5 s per request with 50 connections.
  timeout: 30,
})

/**
 * Runs autocannon and times every 2xx answer. Throughput is the steady-state rate between
 * the first and the last answer: with slow calls (login at cost 12: ~0.1 s of CPU each, 50
 * queued) `answers / duration` would also count the ramp-up before the first answer and
 * drop the work in flight when the run stops, a few percent at 10 s.
 */
function fire(
  baseUrl: string,
  request: LoadRequest,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    let first = 0
    let last = 0
    const instance = autocannon(
      options(baseUrl, request, connections, seconds),
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error)
        resolve(summarise(result, first, last))
      },
    )
    instance.on('response', (_client, statusCode) => {
      const status = Number(statusCode)
      if (status < 200 || status > 299) return
      last = performance.now()
      if (first === 0) first = last
    })
  })
}

const summarise = (result: autocannon.Result, firstMs: number, lastMs: number): LoadResult => ({
  requestsPerSecond:
    result['2xx'] > 1 && lastMs > firstMs
      ? ((result['2xx'] - 1) * 1000) / (lastMs - firstMs)
      : result['2xx'] / result.duration,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  requests: result['2xx'],
  non2xx: result.non2xx,
  errors: result.errors,
})

/**
 * autocannon with `connections` for `seconds` after a warm-up. Requests still queued in
 * the server when a run ends keep it busy (a login queue drains for seconds), so each run
 * is followed by a wait until the server has emptied its queue.
 */
export async function measure(options: {
  baseUrl: string
  request: LoadRequest
  connections: number
  seconds: number
  warmupSeconds: number
  /** Called between warm-up and measured run (e.g. to start an RSS window). */
  beforeRun?: () => void
}): Promise<LoadResult> {
  const { baseUrl, request, connections } = options
  await probe(baseUrl, request)
  await fire(baseUrl, request, connections, options.warmupSeconds)
  await drain(baseUrl, request)
  options.beforeRun?.()
  const result = await fire(baseUrl, request, connections, options.seconds)
  await drain(baseUrl, request)
  return result
}

/** One request first: a wrong status fails the scenario instead of measuring errors. */
async function probe(baseUrl: string, request: LoadRequest) {
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: request.method ?? 'GET',
    headers: request.headers,
    body: request.body,
  })
  const body = await response.text()
  if (!response.ok) {
    throw new Error(`${request.method ?? 'GET'} ${request.path}: ${response.status} ${body}`)
  }
}

/**
 * Waits until the server has finished what the last run left queued: one more request
 * queues behind that work (bcrypt jobs run first-in first-out on the libuv pool), so its
 * answer means the queue is empty.
 */
async function drain(baseUrl: string, request: LoadRequest) {
  await probe(baseUrl, request)
}

/** Load until `stop()` (at most an hour), for a window whose length is set by other work. */
export function startLoad(baseUrl: string, request: LoadRequest, connections: number) {
  let finish: (result: autocannon.Result) => void = () => {}
  let fail: (error: unknown) => void = () => {}
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  const instance = autocannon(options(baseUrl, request, connections, 3_600), (error, result) =>
    error ? fail(error) : finish(result),
  )
  const started = performance.now()
  return {
    async stop(): Promise<LoadResult> {
      instance.stop()
      const result = summarise(await done, started, performance.now())
      await drain(baseUrl, request)
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
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method ?? 'GET',
      headers: request.headers,
      body: request.body,
    })
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
