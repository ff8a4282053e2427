/**
 * Summarises a V8 .cpuprofile (from BENCH_PROFILE=1, i.e. `node --cpu-prof`): self time by
 * package and by function, skipping the first `skipSeconds` (start-up, module loading).
 * Usage: node --import tsx bench/profile-summary.ts <file> [top] [skipSeconds]
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** `fastify`, `@fastify/swagger`, `src/core/security.ts`, `node:internal`, or `(program)`. */
function owner(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules?.[1]) return modules[1]
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/')
  const local = /\/((?:src|bench)\/.+)$/.exec(url)
  return local?.[1] ?? url
}

export function summarise(profile: Profile, skipSeconds = 0) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMs = new Map<number, number>()
  let elapsedUs = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    elapsedUs += delta
    if (elapsedUs < skipSeconds * 1e6) return
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000)
  })
  const total = [...selfMs.values()].reduce((a, b) => a + b, 0)
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)?.callFrame
    if (!frame) continue
    const pkg = owner(frame.url, frame.functionName)
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms)
    const fn = `${frame.functionName || '(anonymous)'} ${pkg}:${frame.lineNumber + 1}`
    functions.set(fn, (functions.get(fn) ?? 0) + ms)
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, ms]) => ({ key, ms: Math.round(ms), share: ms / total }))
  return { totalMs: Math.round(total), packages: top(packages, 25), functions: top(functions, 40) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]')
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const summary = summarise(profile, Number(process.argv[4] ?? 0))
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`
  console.log(`total ${summary.totalMs} ms sampled\n\nself time by package:`)
  for (const p of summary.packages) console.log(`${pct(p.share)}  ${p.key}`)
  console.log('\nself time by function:')
  const limit = Number(process.argv[3] ?? 40)
  for (const f of summary.functions.slice(0, limit)) console.log(`${pct(f.share)}  ${f.key}`)
}
