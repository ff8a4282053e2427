import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderChart } from '../../bench/chart.js'
import { type MeasuredRun, toLoadResult } from '../../bench/load.js'
import { renderMarkdown } from '../../bench/report.js'
import {
  type BenchReport,
  compareFloors,
  evaluateTargets,
  MB,
  pairedRatios,
  type ScenarioResult,
  spread,
} from '../../bench/targets.js'
import {
  luaString,
  parseWrkReport,
  WRK_MARKER,
  type WrkReport,
  writeWrkScript,
  wrkScript,
} from '../../bench/wrk.js'

const wrkText = (json: string) =>
  [
    'Running 10s test @ http://127.0.0.1:8000',
    '  1 threads and 50 connections',
    '  10012 requests in 10.00s, 3.1MB read',
    'Requests/sec:   1001.20',
    `${WRK_MARKER}${json}`,
    '',
  ].join('\n')

const report = (overrides: Partial<WrkReport> = {}): WrkReport => ({
  requests: 10_000,
  durationUs: 10_000_000,
  errors: { connect: 0, read: 1, write: 0, status: 100, timeout: 2 },
  latencyUs: { p50: 4_250, p99: 17_900, mean: 5_000.5, max: 40_000 },
  cpuTicks: 350,
  steady: null,
  ...overrides,
})

describe('wrk report parser', () => {
  it('reads the done() line among wrk text output', () => {
    const parsed = parseWrkReport(wrkText(JSON.stringify(report())))
    expect(parsed).toEqual(report())
  })

  it('fails with the output when done() printed nothing', () => {
    expect(() => parseWrkReport('unable to connect to 127.0.0.1:8000 Connection refused')).toThrow(
      /no report:\n.*Connection refused/,
    )
  })

  it('rejects a report whose figures are not numbers', () => {
    const broken = JSON.stringify({
      ...report(),
      latencyUs: { p50: 'nan', p99: 1, mean: 1, max: 1 },
    })
    expect(() => parseWrkReport(wrkText(broken))).toThrow(/latency p50/)
  })

  it('turns the report into 2xx/s, milliseconds, error counts and generator CPU', () => {
    const result = toLoadResult(report(), 100)
    expect(result.requestsPerSecond).toBeCloseTo(990) // (10,000 - 100 non-2xx) / 10 s
    expect(result.requests).toBe(9_900)
    expect(result.non2xx).toBe(100)
    expect(result.errors).toBe(3)
    expect(result.p50Ms).toBeCloseTo(4.25)
    expect(result.p99Ms).toBeCloseTo(17.9)
    expect(result.generatorCores).toBeCloseTo(0.35) // 3.5 s of CPU in 10 s
  })

  it('takes slow calls at the rate between the first and the last 2xx', () => {
    const steady = { ok: 91, other: 4, firstUs: 2_000_000, lastUs: 12_000_000 }
    const result = toLoadResult(report({ requests: 95, steady, cpuTicks: -1 }), 100)
    expect(result.requestsPerSecond).toBeCloseTo(9) // 90 intervals in 10 s
    expect(result.requests).toBe(91)
    expect(result.non2xx).toBe(4)
    expect(result.generatorCores).toBeNull()
  })
})

describe('wrk Lua scripts', () => {
  it('writes strings as Lua literals that cannot break out of the quotes', () => {
    expect(luaString('a"b\\c\nd]]é')).toBe('"a\\034b\\092c\\010d]]\\195\\169"')
  })

  it('sends one token as a static header and cycles several per request', () => {
    const one = wrkScript({ path: '/users/me', bearerTokens: ['a.b.c'] }, '/tmp/t.tokens')
    expect(one).toContain('wrk.headers["Authorization"] = "Bearer " .. tokens[1]')
    expect(one).not.toContain('function request')
    const many = wrkScript({ path: '/users/me', bearerTokens: ['a.b.c', 'd.e.f'] }, '/tmp/t')
    expect(many).toContain('function request()')
    expect(many).toContain('tokens[(next_token % #tokens) + 1]')
  })

  it('times answers only for steady-state scenarios', () => {
    expect(wrkScript({ path: '/health/live' })).not.toContain('function response')
    const login = wrkScript({ method: 'POST', path: '/auth/login', body: '{}', steadyState: true })
    expect(login).toContain('function response(status, headers, body)')
    expect(login).toContain('wrk.method = "POST"')
    expect(login).toContain('wrk.body = "{}"')
  })

  it('refuses a token that would inject a header line', () => {
    const directory = mkdtempSync(join(tmpdir(), 'bench-test-'))
    expect(() =>
      writeWrkScript(directory, 'x', { path: '/', bearerTokens: ['a.b.c\r\nX-Admin: 1'] }),
    ).toThrow(/JWT-shaped/)
    const script = writeWrkScript(directory, 'ok', { path: '/', bearerTokens: ['a.b.c', 'd.e.f'] })
    expect(readFileSync(script.replace(/\.lua$/, '.tokens'), 'utf8')).toBe('a.b.c\nd.e.f\n')
  })
})

const run = (requestsPerSecond: number, peakMb: number): MeasuredRun => ({
  requestsPerSecond,
  p50Ms: 5,
  p99Ms: 20,
  requests: requestsPerSecond * 10,
  non2xx: 0,
  errors: 0,
  generatorCores: 0.3,
  peakRssBytes: peakMb * MB,
  serverCores: 1,
  machineBusyCores: 1.8,
})

const scenario = (
  name: ScenarioResult['name'],
  server: ScenarioResult['server'],
  runs: MeasuredRun[],
): ScenarioResult => ({ name, server, request: 'GET /x', runs })

function benchReport(): Omit<BenchReport, 'targets' | 'comparisons'> {
  return {
    startedAt: '2026-11-27T10:00:00.000Z',
    finishedAt: '2026-11-27T10:12:00.000Z',
    quick: false,
    machine: { cpus: 2, cpuModel: 'test', node: 'v20', postgres: '15', loadAverage1m: 0.1 },
    generator: { version: 'wrk 4.1.0', threads: 1, connections: 50, pinning: null },
    settings: { runs: 3, durationSeconds: 10, warmupSeconds: 3, users: 10_000 },
    scenarios: [
      scenario('baseline-me', 'node', [run(10_000, 80), run(10_000, 80), run(10_000, 80)]),
      // Ratios 0.80, 0.90, 0.95: the median (0.90) passes although one run is below 0.85.
      scenario('me', 'api', [run(8_000, 110), run(9_000, 119), run(9_500, 121)]),
      scenario('fastify-me', 'fastify', [run(9_000, 90), run(9_000, 90), run(9_000, 90)]),
    ],
    bcryptCeiling: [],
    embeddedIdle: [
      { firstStartIdleRssBytes: 150 * MB, restartIdleRssBytes: 140 * MB, startPeakRssBytes: 0 },
    ],
    scale: [],
    auditScale: [],
    cleanup: null,
  }
}

describe('targets', () => {
  it('judges ratios on the median of the runs and memory on the worst run', () => {
    const targets = evaluateTargets(benchReport())
    const me = targets.find((t) => t.name.startsWith('GET /users/me'))
    expect(me?.values.map((v) => Number(v.toFixed(2)))).toEqual([0.8, 0.9, 0.95])
    expect(me?.measured).toBeCloseTo(0.9)
    expect(me?.pass).toBe(true)
    const rss = targets.find((t) => t.name.startsWith('API peak RSS'))
    expect(rss?.measured).toBeCloseTo(121) // one run over 120 MB fails it
    expect(rss?.pass).toBe(false)
    const idle = targets.find((t) => t.name.startsWith('embedded default'))
    expect(idle?.measured).toBeCloseTo(150)
    expect(idle?.pass).toBe(true)
  })

  it('leaves targets whose scenarios did not run unjudged', () => {
    const login = evaluateTargets(benchReport()).find((t) => t.name.startsWith('POST /auth/login'))
    expect(login?.pass).toBeNull()
    expect(login?.measured).toBeNull()
  })

  it('separates Fastify from ours', () => {
    const [fastify, ours] = compareFloors(benchReport())
    expect(fastify?.values).toEqual([0.9, 0.9, 0.9])
    expect(ours?.values.map((v) => Number(v.toFixed(3)))).toEqual([0.889, 1, 1.056])
  })

  it('pairs runs by index and takes medians of odd and even counts', () => {
    expect(pairedRatios([2, 4, 6], [1, 2])).toEqual([2, 2])
    expect(spread([3, 1, 2])).toEqual({ min: 1, median: 2, max: 3 })
    expect(spread([4, 1, 2, 3])).toEqual({ min: 1, median: 2.5, max: 4 })
    expect(spread([])).toBeNull()
  })
})

describe('report and chart', () => {
  const full = (): BenchReport => {
    const inputs = benchReport()
    return { ...inputs, targets: evaluateTargets(inputs), comparisons: compareFloors(inputs) }
  }

  it('states each rule, the spread and the verdict in Markdown', () => {
    const markdown = renderMarkdown(full())
    expect(markdown).toContain(
      '| GET /users/me vs bare node:http (req/s) | ≥ 0.85, median of 3 runs | 0.90 | 0.80–0.95 | pass |',
    )
    expect(markdown).toMatch(/API peak RSS .*\| ≤ 120 MB, every run \| 121 \|.*\*\*FAIL\*\*/)
    expect(markdown).toContain('| me | api | `GET /x` | 9,000 (8,000–9,500) |')
    expect(markdown).toContain('wrk 4.1.0')
    // CPU: wrk 0.30, server 1.00, and the rest of the 1.80 busy cores is PostgreSQL and others.
    expect(markdown).toContain('| me | 0 | 0 | 0.30 | 1.00 | 0.50 |')
  })

  it('draws one bar per measured row, coloured by its verdict, with escaped text', () => {
    const report = full()
    report.comparisons.push({ name: 'x', label: 'a <b> & "c"', values: [1] })
    const svg = renderChart(report)
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    expect(svg).toContain('a &#60;b&#62; &#38; &#34;c&#34;')
    expect(svg).not.toContain('<b>')
    // me ÷ node:http passes (green); API peak RSS of `me` (worst 121 MB) fails (red).
    expect(svg).toMatch(/GET \/users\/me ÷ node:http ≥ 0\.85<\/text>\n<rect [^>]*fill="#2e7d32"/)
    expect(svg).toMatch(/API, me ≤ 120<\/text>\n<rect [^>]*fill="#c62828"/)
    expect(svg).not.toContain('Quick mode')
    expect(renderChart({ ...report, quick: true })).toContain('Quick mode')
  })
})
