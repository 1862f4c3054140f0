/**
 * Durations written by people: "30s", "5m", "1h30m", "250ms", or a bare number of seconds
 * (Dragonfly 1.x's `--timeout 30`).
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parses a duration into milliseconds. A bare number counts seconds. Returns undefined
 * when malformed or negative.
 */
export function parseDurationMs (text: string): number | undefined {
  const trimmed = text.trim().toLowerCase()
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(trimmed)) return undefined
  let totalMs = 0
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    totalMs += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0)
  }
  return Math.round(totalMs)
}

/** "1.52 s", "250 ms", "3 min 5 s": for summaries and logs. */
export function formatDurationMs (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms - minutes * 60_000) / 1000)} s`
}
