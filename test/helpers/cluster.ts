import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnLogged } from './process.js'

/**
 * Several API processes and a worker on one database and one Redis, behind HAProxy
 * (round-robin, health-checked on /health/ready), as docker-compose.scale.yml runs them.
 * Every response through the balancer carries `X-Served-By: api1|api2|…` (set by HAProxy).
 */
type Logged = ReturnType<typeof spawnLogged>

export interface Cluster {
  /** The balancer's address: what clients use. */
  base: string
  /** Each instance's own address, by name (api1, api2, …). */
  direct: Record<string, string>
  apis: Record<string, Logged>
  worker: Logged
  /** HAProxy's view of each server: `UP`, `DOWN`, … (its stats page, CSV). */
  serverStatus(): Promise<Record<string, string>>
  stop(): Promise<void>
}

/** How often HAProxy probes each instance, and after how many failures it takes one out. */
const HEALTH_CHECK = { intervalMs: 300, fall: 2 }

function haproxyConfig(options: {
  port: number
  statsPort: number
  servers: Record<string, number>
}): string {
  const servers = Object.entries(options.servers).map(
    ([name, port]) => `  server ${name} 127.0.0.1:${port} check`,
  )
  return [
    'global',
    '  maxconn 512',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A refused connection (an instance just killed) is retried on another server.
    '  retries 2',
    '  option redispatch',
    'frontend api',
    `  bind 127.0.0.1:${options.port}`,
    '  option forwardfor',
    '  default_backend apis',
    'backend apis',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /health/ready',
    '  http-check expect status 200',
    `  default-server inter ${HEALTH_CHECK.intervalMs}ms fall ${HEALTH_CHECK.fall} rise 1`,
    '  http-response set-header X-Served-By %s',
    ...servers,
    'listen stats',
    `  bind 127.0.0.1:${options.statsPort}`,
    '  stats enable',
    '  stats uri /stats',
    '',
  ].join('\n')
}

const tsx = (script: string, env: Record<string, string>) =>
  spawnLogged(process.execPath, ['--import', 'tsx', script], env)

async function waitForUp(statsUrl: string, names: string[], haproxy: Logged) {
  for (let tries = 0; tries < 200; tries++) {
    if (haproxy.child.exitCode !== null)
      throw new Error(`haproxy exited:\n${haproxy.output.join('\n')}`)
    const status = await readStatus(statsUrl).catch(() => ({}) as Record<string, string>)
    if (names.every((name) => status[name] === 'UP')) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`HAProxy did not see every instance UP:\n${haproxy.output.join('\n')}`)
}

async function readStatus(statsUrl: string): Promise<Record<string, string>> {
  const csv = await (await fetch(`${statsUrl};csv`)).text()
  const [header = '', ...rows] = csv.trim().split('\n')
  const columns = header.replace(/^# /, '').split(',')
  const [proxy, server, status] = ['pxname', 'svname', 'status'].map((c) => columns.indexOf(c))
  return Object.fromEntries(
    rows
      .map((row) => row.split(','))
      .filter((cells) => cells[proxy ?? 0] === 'apis' && cells[server ?? 1] !== 'BACKEND')
      .map((cells) => [cells[server ?? 1], cells[status ?? 17]]),
  )
}

/** Starts `instances` APIs and one worker in parallel, then HAProxy in front of them. */
export async function startCluster(env: Record<string, string>, instances = 3): Promise<Cluster> {
  const names = Array.from({ length: instances }, (_, i) => `api${i + 1}`)
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()])))
  const apis: Record<string, Logged> = {}
  for (const name of names) apis[name] = tsx('src/server.ts', { ...env, PORT: String(ports[name]) })
  const worker = tsx('src/worker.ts', env)
  const dir = mkdtempSync(join(tmpdir(), 'coffee-haproxy-'))
  let haproxy: Logged | undefined
  const stop = async () => {
    await Promise.all([haproxy, worker, ...Object.values(apis)].map((p) => p?.kill()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await Promise.all([
      ...Object.values(apis).map((api) =>
        api.waitForLog((r) => String(r.msg).startsWith('Coffee Shop API ready')),
      ),
      worker.waitForLog((r) => r.msg === 'cleanup worker started'),
    ])
    const [port, statsPort] = [await freePort(), await freePort()]
    const cfg = join(dir, 'haproxy.cfg')
    writeFileSync(cfg, haproxyConfig({ port, statsPort, servers: ports }))
    haproxy = spawnLogged('haproxy', ['-f', cfg], {})
    const statsUrl = `http://127.0.0.1:${statsPort}/stats`
    await waitForUp(statsUrl, names, haproxy)
    return {
      base: `http://127.0.0.1:${port}`,
      direct: Object.fromEntries(names.map((n) => [n, `http://127.0.0.1:${ports[n]}`])),
      apis,
      worker,
      serverStatus: () => readStatus(statsUrl),
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

let clients = 0
/** A client address of its own for each call, unless one is given (limits are per client). */
const nextClient = () => `10.20.${Math.floor(++clients / 250)}.${(clients % 250) + 1}`

export interface Answer {
  status: number
  servedBy: string
  body: Record<string, unknown>
  headers: Headers
}

export interface CallOptions {
  body?: unknown
  token?: string
  /** The client address (X-Forwarded-For); a new one for each call when unset. */
  client?: string
  /** Another address than the balancer's (an instance's own). */
  base?: string
}

/** One JSON request; `servedBy` is the instance HAProxy sent it to. */
export async function callCluster(
  cluster: Pick<Cluster, 'base'>,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  const response = await fetch(`${options.base ?? cluster.base}${path}`, {
    method,
    headers: {
      'x-forwarded-for': options.client ?? nextClient(),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  // HAProxy's own error pages (502, 503) are HTML.
  const json = response.headers.get('content-type')?.startsWith('application/json')
  return {
    status: response.status,
    servedBy: response.headers.get('x-served-by') ?? '',
    body: json
      ? ((await response.json()) as Record<string, unknown>)
      : { text: await response.text() },
    headers: response.headers,
  }
}
