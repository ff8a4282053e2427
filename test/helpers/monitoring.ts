import { readFileSync } from 'node:fs'

/*
 * Reading the monitoring files of docker/ (alert rules, Grafana dashboard) for the metric
 * names their PromQL uses, so a test can hold them against what a running instance exports.
 */

export const ALERTS_FILE = 'docker/prometheus/alerts.yml'
const DASHBOARD_FILE = 'docker/grafana/dashboards/coffee-shop-api.json'

/** Words of PromQL that are no metric: operators and modifiers not followed by `(`. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/**
 * The metric names a PromQL expression reads: identifiers left once strings, label
 * matchers, ranges, `by (…)`-style label lists and calls' names are taken out.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ')
  const names = new Set<string>()
  for (const [, name = '', call] of bare.matchAll(/(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (call === undefined && !KEYWORDS.has(name.toLowerCase())) names.add(name)
  }
  return [...names].sort()
}

/** Each rule of a Prometheus rule file: its name and its expression (one line or a `|` block). */
export function alertRules(yaml: string): { alert: string; expr: string }[] {
  const rules: { alert: string; expr: string }[] = []
  const lines = yaml.split('\n')
  lines.forEach((line, index) => {
    const alert = /^\s*- alert: (\S+)$/.exec(line)?.[1]
    if (alert === undefined) return
    const exprIndex = lines.findIndex((l, i) => i > index && /^\s+expr:/.test(l))
    const exprLine = lines[exprIndex] as string
    const inline = /^\s+expr: (?!\|)(.+)$/.exec(exprLine)?.[1]
    if (inline !== undefined) {
      rules.push({ alert, expr: inline })
      return
    }
    const indent = (exprLine.match(/^\s*/)?.[0].length ?? 0) + 1
    const body: string[] = []
    for (const next of lines.slice(exprIndex + 1)) {
      if (next.trim() !== '' && next.length - next.trimStart().length < indent) break
      body.push(next.trim())
    }
    rules.push({ alert, expr: body.join(' ').trim() })
  })
  return rules
}

interface DashboardTarget {
  expr?: string
  datasource?: { type?: string }
}
interface DashboardPanel {
  title?: string
  datasource?: { type?: string }
  targets?: DashboardTarget[]
}
interface Dashboard {
  panels: DashboardPanel[]
  templating: { list: { type: string; definition?: string }[] }
}

export const readDashboard = () => JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard

/**
 * The PromQL of a dashboard: every Prometheus panel's targets, and the selector of each
 * `label_values(selector, label)` variable. Loki panels (LogQL) are left out.
 */
export function dashboardExpressions(dashboard: Dashboard): string[] {
  const fromPanels = dashboard.panels
    .filter((panel) => panel.datasource?.type === 'prometheus')
    .flatMap((panel) => panel.targets ?? [])
    .map((target) => target.expr ?? '')
  const fromVariables = dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => /^label_values\((.*),\s*\w+\)$/.exec(variable.definition ?? '')?.[1] ?? '')
  return [...fromPanels, ...fromVariables]
}

/**
 * The sample names a Prometheus text exposition declares (`# TYPE` lines): a histogram or
 * summary family stands for its `_bucket`, `_sum` and `_count` series too.
 */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>()
  for (const [, family, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(family as string)
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${family}${suffix}`)
    }
  }
  return names
}
