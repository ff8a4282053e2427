/**
 * Hostile request bodies, as an attacker or a broken client sends them: absurd nesting,
 * random JSON of any shape and type, broken JSON, random bytes, odd content types.
 * Reproducible: everything random comes from a seeded generator, so a failing run can be
 * replayed with the seed it prints.
 */

/** mulberry32: a small, fast, seeded PRNG; plenty for test data (not for secrets). */
export function seededRandom(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  /** An integer in [min, max]. */
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T
  return { next, int, pick, chance: (p: number) => next() < p }
}
export type Random = ReturnType<typeof seededRandom>

export type NestingShape = 'array' | 'object' | 'mixed' | 'in-field'

/**
 * JSON text nested `depth` levels deep: `[[[…]]]`, `{"a":{"a":…}}`, the two alternating, or
 * an array nest as the value of `field` (where a string belongs).
 */
export function nestedJson(depth: number, shape: NestingShape, field = 'email'): string {
  if (shape === 'in-field') return `{${JSON.stringify(field)}:${nestedJson(depth - 1, 'array')}}`
  const opens: string[] = []
  const closes: string[] = []
  for (let level = 0; level < depth; level++) {
    const asArray = shape === 'array' || (shape === 'mixed' && level % 2 === 0)
    opens.push(asArray ? '[' : '{"a":')
    closes.push(asArray ? ']' : '}')
  }
  return `${opens.join('')}1${closes.reverse().join('')}`
}

const NESTING_SHAPES: readonly NestingShape[] = ['array', 'object', 'mixed', 'in-field']

const ODD_STRINGS = [
  '',
  ' ',
  'a\u0000b',
  '\u0000',
  'line\r\nbreak',
  '\u202e\u2066evil\u2069',
  '\ud800',
  '😀☕',
  '%s%n%x',
  "' OR 1=1 --",
  '<script>alert(1)</script>',
  '__proto__',
  'ana@example.com',
  ' Ana@Example.COM ',
  'a@b',
  '123456',
  'correct horse battery staple',
  'x'.repeat(300),
]
const ODD_NUMBERS = [0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 123456]
const KEYS = [
  'email',
  'password',
  'full_name',
  'code',
  'refresh_token',
  'new_password',
  'username',
  'grant_type',
  'role',
  'is_active',
  '__proto__',
  'constructor',
  'prototype',
  '',
  'a\u0000',
]

function randomString(random: Random): string {
  if (random.chance(0.6)) return random.pick(ODD_STRINGS)
  const length = random.int(0, random.chance(0.9) ? 40 : 4_000)
  let text = ''
  for (let i = 0; i < length; i++) text += String.fromCharCode(random.int(0, 0xffff))
  return text
}

/** A random JSON value: any type, small nesting, keys mostly the API's own field names. */
function randomJsonValue(random: Random, depth = 0): unknown {
  const kind = random.int(0, depth >= 4 ? 3 : 5)
  if (kind === 0) return random.pick([null, true, false])
  if (kind === 1) return random.pick(ODD_NUMBERS)
  if (kind <= 3) return randomString(random)
  if (kind === 4) {
    return Array.from({ length: random.int(0, 6) }, () => randomJsonValue(random, depth + 1))
  }
  const object: Record<string, unknown> = {}
  for (let i = random.int(0, 6); i > 0; i--) {
    object[random.pick(KEYS)] = randomJsonValue(random, depth + 1)
  }
  return object
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/jsonx',
  'application/vnd.api+json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'text/plain',
  'text/html',
  'application/xml',
  'application/octet-stream',
  '*/*',
  'application/json, text/plain',
  'application/json; boundary=',
  undefined,
]

export interface HostileBody {
  kind: string
  contentType: string | undefined
  payload: Uint8Array
}

const utf8 = (text: string) => new TextEncoder().encode(text)
const randomBytes = (random: Random, length: number) =>
  Uint8Array.from({ length }, () => random.int(0, 255))

function brokenJson(random: Random): string {
  const text = JSON.stringify(randomJsonValue(random)) ?? 'null'
  const cut = random.int(0, text.length)
  if (random.chance(0.5)) return text.slice(0, cut)
  const junk = random.pick(['{', '}', '[', ']', ',', ':', '"', '\\', 'NaN', '\u0000', '\ufeff'])
  return text.slice(0, cut) + junk + text.slice(cut)
}

/** The `n`th hostile body: every kind comes round in turn, so a short run still sees all. */
export function hostileBody(random: Random, n: number): HostileBody {
  const json = 'application/json'
  switch (n % 6) {
    case 0: {
      const depth = random.int(100, 15_000)
      const shape = random.pick(NESTING_SHAPES)
      return {
        kind: `nested ${shape} ${depth}`,
        contentType: json,
        payload: utf8(nestedJson(depth, shape)),
      }
    }
    case 1:
      return {
        kind: 'random json',
        contentType: json,
        payload: utf8(JSON.stringify(randomJsonValue(random)) ?? 'null'),
      }
    case 2:
      return { kind: 'broken json', contentType: json, payload: utf8(brokenJson(random)) }
    case 3:
      return {
        kind: 'random bytes',
        contentType: json,
        payload: randomBytes(random, random.int(1, 4_096)),
      }
    case 4: {
      const contentType = random.pick(CONTENT_TYPES)
      const payload = random.chance(0.5)
        ? utf8(JSON.stringify(randomJsonValue(random)) ?? 'null')
        : randomBytes(random, random.int(0, 2_048))
      return { kind: `content-type ${contentType}`, contentType, payload }
    }
    default: {
      // The right field names with values of any type: these get past the parser.
      const object: Record<string, unknown> = {}
      for (const key of KEYS.slice(0, random.int(1, 7))) object[key] = randomJsonValue(random, 3)
      return { kind: 'fields', contentType: json, payload: utf8(JSON.stringify(object)) }
    }
  }
}
