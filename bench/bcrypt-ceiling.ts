import bcrypt from 'bcrypt'

export interface BcryptCeiling {
  rounds: number
  parallelism: number
  hashes: number
  hashesPerSecond: number
}

/**
 * The machine's bcrypt rate with every core busy: `parallelism` loops of bcrypt.hash (the
 * native binding runs on the libuv pool, 4 threads by default) for `durationMs`. Each loop's
 * own rate is summed, so the tail (one loop finishing after another) adds no idle time.
 */
export async function measureBcryptCeiling(options: {
  rounds: number
  parallelism: number
  durationMs: number
}): Promise<BcryptCeiling> {
  // The API hashes a 44-character base64 SHA-256 digest; so does this.
  const input = 'R2lHc1Z2V0ZkY2Q5c2Z3ZXJ3ZXJ3ZXJ3ZXJ3ZXJ3ZXI='
  await bcrypt.hash(input, options.rounds) // warm-up: thread pool start, binding load
  const started = performance.now()
  const deadline = started + options.durationMs
  const loop = async () => {
    let count = 0
    let finishedAt = started
    while (performance.now() < deadline) {
      await bcrypt.hash(input, options.rounds)
      count += 1
      finishedAt = performance.now()
    }
    return { count, seconds: (finishedAt - started) / 1000 }
  }
  const loops = await Promise.all(Array.from({ length: options.parallelism }, loop))
  const hashes = loops.reduce((sum, l) => sum + l.count, 0)
  const hashesPerSecond = loops.reduce(
    (sum, l) => sum + (l.seconds > 0 ? l.count / l.seconds : 0),
    0,
  )
  return { rounds: options.rounds, parallelism: options.parallelism, hashes, hashesPerSecond }
}
