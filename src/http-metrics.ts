import { Counter, Histogram, type Registry } from 'prom-client'

const LABEL_NAMES = ['route', 'method', 'status_code'] as const
type Labels = Record<(typeof LABEL_NAMES)[number], string>

/** Upper bounds of the latency histogram, in seconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** One route, method and status: what a request adds to both HTTP metrics. */
export interface HttpSeries {
  observe(seconds: number): void
}

interface SeriesState extends HttpSeries {
  labels: Labels
  count: number
  sum: number
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  perBucket: number[]
}

/**
 * `http_requests_total` and `http_request_duration_seconds`, kept as plain numbers per
 * series and turned into prom-client's values only when /metrics is read. prom-client's
 * own `inc`/`observe`, even on a labelled child, validate and hash the labels on every
 * call: a tenth of the CPU of `GET /health/live`. Same names, help, buckets and exposition
 * as the prom-client metrics they replace (they are prom-client metrics, with `get` fed
 * from here).
 */
export function createHttpMetrics(registers: Registry[]) {
  const series: SeriesState[] = []
  const byKey = new Map<string, SeriesState>()

  const requestsMeta = {
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code',
  }
  const requests = new Counter({ ...requestsMeta, labelNames: LABEL_NAMES, registers })
  const countValues = async () => ({
    ...requestsMeta,
    type: 'counter',
    aggregator: 'sum',
    values: series.map((s) => ({ labels: { ...s.labels }, value: s.count })),
  })
  // The registry prints get() of a counter, getForPromString() of a histogram.
  Object.assign(requests, { get: countValues })

  const durationMeta = {
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending the response, in seconds',
  }
  const duration = new Histogram({
    ...durationMeta,
    labelNames: LABEL_NAMES,
    buckets: BUCKETS,
    registers,
  })
  const { name } = durationMeta
  const valuesOf = (s: SeriesState) => {
    let cumulative = 0
    const buckets = BUCKETS.map((le, i) => {
      cumulative += s.perBucket[i] ?? 0
      return {
        labels: { le },
        sharedLabels: s.labels,
        value: cumulative,
        metricName: `${name}_bucket`,
      }
    })
    return [
      ...buckets,
      {
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: `${name}_bucket`,
      },
      { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` },
      { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` },
    ]
  }
  const forPromString = async () => ({
    ...durationMeta,
    type: 'histogram',
    aggregator: 'sum',
    values: series.flatMap(valuesOf),
  })
  Object.assign(duration, {
    getForPromString: forPromString,
    // The JSON form (registry.getMetricsAsJSON): each value's labels merged.
    get: async () => {
      const data = await forPromString()
      const values = data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      }))
      return { ...data, values }
    },
  })

  return {
    /** The series of one route, method and status (callers keep it: this builds a key). */
    series(route: string, method: string, statusCode: number): HttpSeries {
      const key = `${method} ${route} ${statusCode}`
      const known = byKey.get(key)
      if (known) return known
      const state: SeriesState = {
        labels: { route, method, status_code: String(statusCode) },
        count: 0,
        sum: 0,
        perBucket: new Array<number>(BUCKETS.length + 1).fill(0),
        observe(seconds) {
          let i = 0
          while (i < BUCKETS.length && seconds > (BUCKETS[i] as number)) i++
          state.perBucket[i] = (state.perBucket[i] ?? 0) + 1
          state.count += 1
          state.sum += seconds
        },
      }
      series.push(state)
      byKey.set(key, state)
      return state
    },
  }
}
