/**
 * CPU accounting from /proc (Linux): how much of the machine the server, the generator and
 * everything else used during a measured run, so a reader can judge the figures; and
 * optional pinning of the generator and the servers to different cores with taskset.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

let ticksPerSecond: number | null = null

/** USER_HZ, the unit of /proc's CPU times (100 on every usual Linux). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === null) {
    const output = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout ?? ''
    const value = Number(output.trim())
    ticksPerSecond = Number.isFinite(value) && value > 0 ? value : 100
  }
  return ticksPerSecond
}

/** utime + stime of a process (all its threads), in ticks; null once it is gone. */
export function processCpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (the command) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return null
  }
}

/**
 * Waits until the process has used under 5% of a core for half a second: whatever a run
 * left queued is done. Logins are not answered first-in first-out (a login sent after 30
 * others overtook 12 of them), so one more request answered proves nothing about the rest.
 */
export async function waitUntilIdle(pid: number, timeoutMs = 180_000): Promise<void> {
  const windowMs = 500
  const busyTicks = 0.05 * clockTicksPerSecond() * (windowMs / 1000)
  const deadline = Date.now() + timeoutMs
  let before = processCpuTicks(pid)
  while (before !== null && Date.now() < deadline) {
    await sleep(windowMs)
    const now = processCpuTicks(pid)
    if (now === null || now - before < busyTicks) return
    before = now
  }
  if (before !== null) throw new Error(`process ${pid} still busy after ${timeoutMs / 1000} s`)
}

/** Busy and total ticks of all cores together, from the first line of /proc/stat. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const values = first.trim().split(/\s+/).slice(1, 9).map(Number)
    const total = values.reduce((sum, v) => sum + v, 0)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return null
  }
}

export interface CpuWindow {
  /** Cores' worth of CPU the server used (1.0 = one core busy all the time). */
  serverCores: number | null
  /** All processes together, in cores: the server, the generator, PostgreSQL, others. */
  machineBusyCores: number | null
}

/** Starts measuring; `stop()` gives the server's and the machine's CPU since then. */
export function cpuWindow(serverPid: number, cores: number) {
  const started = performance.now()
  const server = processCpuTicks(serverPid)
  const machine = machineTicks()
  return {
    stop(): CpuWindow {
      const seconds = (performance.now() - started) / 1000
      const serverNow = processCpuTicks(serverPid)
      const machineNow = machineTicks()
      const serverCores =
        server !== null && serverNow !== null && seconds > 0
          ? (serverNow - server) / clockTicksPerSecond() / seconds
          : null
      const machineBusyCores =
        machine && machineNow && machineNow.total > machine.total
          ? ((machineNow.busy - machine.busy) / (machineNow.total - machine.total)) * cores
          : null
      return { serverCores, machineBusyCores }
    },
  }
}

/** The generator's and the servers' cores when pinned: the last core, and the others. */
export interface Pinning {
  generator: string
  servers: string
  all: string
}

/** Null on one core (nothing to separate) or without taskset. */
export function pinning(cores: number): Pinning | null {
  if (cores < 2) return null
  if (spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status !== 0) return null
  const last = cores - 1
  return {
    generator: String(last),
    servers: last === 1 ? '0' : `0-${last - 1}`,
    all: `0-${last}`,
  }
}

/** Moves every thread of `pid` onto `cpus` (taskset -a -p); threads made later inherit it. */
export function setAffinity(pid: number, cpus: string): void {
  const result = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`taskset ${cpus} ${pid}: ${result.stderr}`)
}
