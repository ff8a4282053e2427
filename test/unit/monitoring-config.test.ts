import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { anchorsOf } from '../helpers/markdown-links.js'
import {
  ALERTS_FILE,
  alertRules,
  dashboardExpressions,
  metricNames,
  readDashboard,
} from '../helpers/monitoring.js'

// Prometheus' own checker (Debian package `prometheus`; vitest.config.ts leaves this file
// out with a notice where it is missing, and CI fails instead).
const promtool = (...args: string[]) => {
  const result = spawnSync('promtool', args, { cwd: 'docker/prometheus', encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

const ALERTS = [
  'InstanceDown',
  'DatabaseUnavailable',
  'HighErrorRate',
  'HighLatencyP99',
  'LoginFailuresSpike',
  'RefreshTokenReuseDetected',
  'CleanupNotRun',
]
const rules = alertRules(readFileSync(ALERTS_FILE, 'utf8'))

describe('docker/prometheus', () => {
  it('alerts.yml passes promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', 'alerts.yml')
    expect(output).toContain(`SUCCESS: ${ALERTS.length} rules found`)
    expect(status).toBe(0)
  })

  it('prometheus.yml passes promtool check config, with its rule file', () => {
    const { status, output } = promtool('check', 'config', 'prometheus.yml')
    expect(output).toContain('SUCCESS: 1 rule files found')
    expect(status).toBe(0)
  })

  it('every alert fires, and stays quiet, as alerts.test.yml expects (promtool test rules)', () => {
    const { status, output } = promtool('test', 'rules', 'alerts.test.yml')
    expect(output).toContain('SUCCESS')
    expect(status).toBe(0)
    const tested = readFileSync('docker/prometheus/alerts.test.yml', 'utf8')
    const testedAlerts = new Set([...tested.matchAll(/alertname: (\w+)/g)].map((m) => m[1]))
    expect(testedAlerts).toEqual(new Set(ALERTS))
  })

  it('has the alerts the runbooks describe, each linking its runbook', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(ALERTS)
    const operations = readFileSync('docs/operations.md', 'utf8')
    const anchors = anchorsOf(operations)
    const runbooks = [
      ...readFileSync(ALERTS_FILE, 'utf8').matchAll(/runbook: docs\/operations\.md#(\S+)/g),
    ].map((m) => m[1] as string)
    expect(runbooks).toEqual(ALERTS.map((alert) => alert.toLowerCase()))
    for (const anchor of runbooks) expect(anchors, anchor).toContain(anchor)
  })

  it('scrapes the API and the worker on the METRICS_PORT that compose sets', () => {
    const config = readFileSync('docker/prometheus/prometheus.yml', 'utf8')
    const compose = readFileSync('docker-compose.yml', 'utf8')
    const port = /^ {4}METRICS_PORT: "(\d+)"$/m.exec(compose)?.[1]
    expect(port).toBe('9100')
    for (const job of ['api', 'worker']) {
      const block = new RegExp(
        `- job_name: ${job}\\n\\s+dns_sd_configs:\\n\\s+- names: \\[${job}\\]\\n\\s+type: A\\n\\s+port: (\\d+)`,
      ).exec(config)
      expect(block?.[1], job).toBe(port)
    }
  })
})

describe('metric names in PromQL', () => {
  it('are the identifiers left once labels, ranges, calls and label lists are removed', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job="x", route=~"$route"}[$__rate_interval]))) > 1 and on (instance) b_total offset 5m unless time() - c:rule > 2 * d',
      ),
    ).toEqual(['a_bucket', 'b_total', 'c:rule', 'd'])
  })

  it('are found in every alert and in every Prometheus panel of the dashboard', () => {
    for (const rule of rules) expect(metricNames(rule.expr), rule.alert).not.toEqual([])
    const expressions = dashboardExpressions(readDashboard())
    expect(expressions.length).toBe(28)
    for (const expr of expressions) expect(metricNames(expr), expr).not.toEqual([])
  })
})

describe('docker/grafana', () => {
  const datasources = readFileSync(
    'docker/grafana/provisioning/datasources/datasources.yml',
    'utf8',
  )
  const dashboard = readDashboard() as unknown as {
    uid: string
    panels: { id: number; type: string; datasource?: { type: string; uid: string } }[]
    templating: { list: { name: string }[] }
  }

  it('refers only to the provisioned data sources, by uid', () => {
    const provisioned = [...datasources.matchAll(/uid: (\w+)\n\s+type: (\w+)/g)].map(
      (m) => `${m[2]}:${m[1]}`,
    )
    expect(provisioned).toEqual(['prometheus:prometheus', 'loki:loki'])
    const used = new Set(
      dashboard.panels
        .filter((panel) => panel.type !== 'row')
        .map((panel) => `${panel.datasource?.type}:${panel.datasource?.uid}`),
    )
    expect(used).toEqual(new Set(provisioned))
    const ids = dashboard.panels.map((panel) => panel.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('links a request id in a log line to the dashboard narrowed to that request', () => {
    const link = /url: "(\/d\/[^"]+)"/.exec(datasources)?.[1]
    // $$ is Grafana's escape for a literal $ in provisioning files.
    expect(link).toBe(`/d/${dashboard.uid}/coffee-shop-api?var-request_id=$\${__value.raw}`)
    expect(dashboard.templating.list.map((v) => v.name)).toContain('request_id')
    const logs = dashboard.panels.filter((panel) => panel.type === 'logs')
    expect(logs).toHaveLength(1)
    expect(JSON.stringify(logs[0])).toContain('|= \\"$request_id\\"')
  })
})
