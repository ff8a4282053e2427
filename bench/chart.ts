/**
 * The report as a chart (docs/benchmark.svg, shown in the README), hand-written SVG: the
 * ratios of the targets and of the floors, then peak RSS per scenario, each bar the median
 * with a min–max whisker and a tick at its limit.
 */
import { number } from './format.js'
import {
  API_RSS_LIMIT_MB,
  type BenchReport,
  EMBEDDED_IDLE_LIMIT_MB,
  isApi,
  MB,
  spread,
} from './targets.js'

export interface ChartRow {
  label: string
  values: number[]
  limit?: { value: number; direction: 'at least' | 'at most'; basis: 'median' | 'worst' }
}

const WIDTH = 820
const LABEL_X = 16
const PLOT_LEFT = 300
const PLOT_RIGHT = 730
const ROW = 24
const COLOURS = { pass: '#2e7d32', fail: '#c62828', neutral: '#78909c' }

export const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** A round axis end at or above `value`: 1, 2, 2.5 or 5 times a power of ten, times 5. */
export function axisStep(value: number): number {
  const rough = Math.max(value, 1e-9) / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  return ([1, 2, 2.5, 5, 10].find((m) => m * power >= rough) ?? 10) * power
}

function colour(row: ChartRow): string {
  const range = spread(row.values)
  if (!row.limit || range === null) return COLOURS.neutral
  const { value, direction, basis } = row.limit
  const judged =
    basis === 'median' ? range.median : direction === 'at least' ? range.min : range.max
  const pass = direction === 'at least' ? judged >= value : judged <= value
  return pass ? COLOURS.pass : COLOURS.fail
}

/** One panel: a heading, a vertical grid, one bar per row. Returns its SVG and height. */
function panel(title: string, rows: ChartRow[], top: number): { svg: string[]; height: number } {
  const shown = rows.filter((r) => r.values.length > 0)
  if (shown.length === 0) return { svg: [], height: 0 }
  const highest = Math.max(...shown.flatMap((r) => [...r.values, r.limit?.value ?? 0]))
  const step = axisStep(highest * 1.05)
  const end = Math.ceil((highest * 1.05) / step) * step
  const x = (v: number) => PLOT_LEFT + (Math.max(0, v) / end) * (PLOT_RIGHT - PLOT_LEFT)
  const plotTop = top + 26
  const plotBottom = plotTop + shown.length * ROW
  const svg = [`<text x="${LABEL_X}" y="${top + 14}" class="h">${escapeXml(title)}</text>`]
  for (let tick = 0; tick <= end + step / 2; tick += step) {
    svg.push(
      `<line x1="${x(tick)}" y1="${plotTop}" x2="${x(tick)}" y2="${plotBottom}" class="grid"/>`,
      `<text x="${x(tick)}" y="${plotBottom + 14}" class="axis">${number(tick)}</text>`,
    )
  }
  shown.forEach((row, index) => {
    const y = plotTop + index * ROW + ROW / 2
    const range = spread(row.values)
    if (range === null) return
    const sign = row.limit
      ? ` ${row.limit.direction === 'at least' ? '≥' : '≤'} ${row.limit.value}`
      : ''
    svg.push(
      `<text x="${LABEL_X}" y="${y + 4}">${escapeXml(row.label + sign)}</text>`,
      `<rect x="${PLOT_LEFT}" y="${y - 7}" width="${(x(range.median) - PLOT_LEFT).toFixed(1)}" height="14" fill="${colour(row)}"/>`,
      `<line x1="${x(range.min).toFixed(1)}" y1="${y}" x2="${x(range.max).toFixed(1)}" y2="${y}" class="whisker"/>`,
      `<line x1="${x(range.min).toFixed(1)}" y1="${y - 4}" x2="${x(range.min).toFixed(1)}" y2="${y + 4}" class="whisker"/>`,
      `<line x1="${x(range.max).toFixed(1)}" y1="${y - 4}" x2="${x(range.max).toFixed(1)}" y2="${y + 4}" class="whisker"/>`,
      `<text x="${WIDTH - 16}" y="${y + 4}" class="value">${escapeXml(number(range.median))}</text>`,
    )
    if (row.limit) {
      const at = x(row.limit.value).toFixed(1)
      svg.push(`<line x1="${at}" y1="${y - 10}" x2="${at}" y2="${y + 10}" class="limit"/>`)
    }
  })
  return { svg, height: plotBottom + 24 - top }
}

/** The rows of both panels, from the report. */
export function chartRows(report: BenchReport): { ratios: ChartRow[]; memory: ChartRow[] } {
  const ratios: ChartRow[] = [
    ...report.targets
      .filter((t) => t.unit === 'ratio')
      .map((t) => ({
        label: t.label,
        values: t.values,
        limit: { value: t.limit, direction: t.direction, basis: t.basis },
      })),
    ...report.comparisons.map((c) => ({ label: c.label, values: c.values })),
  ]
  const apiLimit = {
    value: API_RSS_LIMIT_MB,
    direction: 'at most' as const,
    basis: 'worst' as const,
  }
  const idleLimit = { ...apiLimit, value: EMBEDDED_IDLE_LIMIT_MB }
  const memory: ChartRow[] = [
    ...report.scenarios
      .filter((s) => isApi(s.server))
      .map((s) => ({
        label: `API, ${s.name}`,
        values: s.runs.map((r) => r.peakRssBytes / MB),
        limit: apiLimit,
      })),
    { label: 'API, scale', values: report.scale.map((s) => s.peakRssBytes / MB), limit: apiLimit },
    {
      label: 'API, cleanup',
      values: report.cleanup ? [report.cleanup.peakRssBytes / MB] : [],
      limit: apiLimit,
    },
    {
      label: 'embedded idle, first start',
      values: report.embeddedIdle.map((e) => e.firstStartIdleRssBytes / MB),
      limit: idleLimit,
    },
    {
      label: 'embedded idle, restart',
      values: report.embeddedIdle.map((e) => e.restartIdleRssBytes / MB),
      limit: idleLimit,
    },
  ]
  return { ratios, memory }
}

export function renderChart(report: BenchReport): string {
  const { ratios, memory } = chartRows(report)
  const runs = Number(report.settings.runs)
  const subtitle =
    `${report.startedAt.slice(0, 16).replace('T', ' ')} UTC; generator ${report.generator.version}, ` +
    `${report.generator.connections} connections; ${runs} run(s) of ${report.settings.durationSeconds} s each.`
  const body: string[] = [
    `<text x="${LABEL_X}" y="26" class="t">Coffee Shop API benchmark</text>`,
    `<text x="${LABEL_X}" y="46">${escapeXml(subtitle)}</text>`,
    `<text x="${LABEL_X}" y="62">Bar: median of the runs; whisker: min–max; black tick: the target (green: met, red: missed, grey: no target).</text>`,
  ]
  let top = 76
  if (report.quick) {
    body.push(
      `<text x="${LABEL_X}" y="${top + 4}" class="warn">Quick mode: one short run of each scenario on a busy machine; indicative only.</text>`,
    )
    top += 16
  }
  for (const [title, rows] of [
    ['Ratios (req/s unless marked p50)', ratios],
    ['Peak RSS per scenario (MB)', memory],
  ] as const) {
    const part = panel(title, rows, top + 8)
    body.push(...part.svg)
    top += 8 + part.height
  }
  const height = top + 8
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="title" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title id="title">${escapeXml(`Coffee Shop API benchmark: ratios and peak RSS per scenario. ${subtitle}`)}</title>`,
    '<style>.t{font-size:16px;font-weight:bold}.h{font-size:13px;font-weight:bold}' +
      '.axis{text-anchor:middle;fill:#555;font-size:10px}.value{text-anchor:end}' +
      '.warn{fill:#c62828;font-weight:bold}.grid{stroke:#ddd}' +
      '.whisker{stroke:#222;stroke-width:1.5}.limit{stroke:#000;stroke-width:2.5}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n')
}
