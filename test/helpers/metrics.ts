import type { TestApp } from './app.js'

/** Parses Prometheus text into samples: `{name, labels, value}` per line. */
export function parseMetrics(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!match) continue
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = pair[2] as string
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of one sample of GET /metrics (0 when absent), matching every given label. */
export async function metricValue(
  t: Pick<TestApp, 'app'>,
  name: string,
  labels: Record<string, string> = {},
) {
  const response = await t.app.inject({ method: 'GET', url: '/metrics' })
  const sample = parseMetrics(response.body).find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  return sample?.value ?? 0
}
