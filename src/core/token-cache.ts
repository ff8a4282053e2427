/** What the cache remembers of a token whose signature and claims were checked. */
export interface CachedVerification<T> {
  value: T
  /** The key that signed it: its entries go when the key is revoked. */
  kid: string
  /** Seconds since the epoch; the entry is dropped from then on. */
  exp: number
}

/**
 * A bounded least-recently-used map from a token to its verified claims: an ES256 or
 * Ed25519 check costs tens of microseconds, a Map lookup well under one. A Map keeps
 * insertion order, so re-inserting on every hit makes its first key the least recent.
 */
export function createTokenCache<T>(maxEntries: number) {
  const entries = new Map<string, CachedVerification<T>>()
  return {
    /** The entry, while it has not expired; refreshes its recency. */
    get(token: string, nowSeconds: number): CachedVerification<T> | undefined {
      const entry = entries.get(token)
      if (entry === undefined) return undefined
      entries.delete(token)
      if (entry.exp <= nowSeconds) return undefined
      entries.set(token, entry)
      return entry
    },

    set(token: string, entry: CachedVerification<T>) {
      entries.delete(token)
      if (entries.size >= maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done !== true) entries.delete(oldest.value)
      }
      entries.set(token, entry)
    },

    /** Forgets every token signed by one of `kids` (a revoked or removed key). */
    dropKeys(kids: ReadonlySet<string>) {
      for (const [token, entry] of entries) if (kids.has(entry.kid)) entries.delete(token)
    },

    get size() {
      return entries.size
    },
  }
}
