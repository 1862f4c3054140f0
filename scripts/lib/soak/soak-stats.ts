/**
 * The numbers of a soak: samples of each long-lived process (resident memory and open file
 * descriptors from /proc/<pid>, event-loop delay from its Prometheus `/metrics`), the
 * least-squares slope of a series, percentiles of pull latencies, and the Markdown table
 * of a finished soak. Pure, except the two samplers that read /proc and `/metrics`.
 */
import { readdir, readFile } from 'node:fs/promises'
import { metricValue } from '../../../test/harness/processes.js'

/** One sample of one process. */
export interface ProcessSample {
  /** Milliseconds since the soak started. */
  readonly atMs: number
  readonly role: string
  readonly pid: number
  readonly rssBytes: number
  readonly openFds: number
  /** p99 event-loop delay as the process reports it (`nodejs_eventloop_lag_p99_seconds`), ms; undefined when unreadable. */
  readonly eventLoopP99Ms: number | undefined
}

/** Resident memory and open file descriptors of `pid` (undefined once it is gone). */
export async function readProcessUsage (pid: number): Promise<{ rssBytes: number, openFds: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    // A process that exited but is not reaped yet (a zombie) has no VmRSS: not a sample.
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)
    if (rss === null) return undefined
    const fds = await readdir(`/proc/${pid}/fd`)
    return { rssBytes: Number(rss[1]) * 1024, openFds: fds.length }
  } catch {
    return undefined
  }
}

/** The p99 event-loop delay in ms from a process's `/metrics` (undefined when it does not answer in 2 s). */
export async function fetchEventLoopP99Ms (metricsUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(2_000) })
    if (!response.ok) return undefined
    const text = await response.text()
    if (!text.includes('nodejs_eventloop_lag_p99_seconds')) return undefined
    return metricValue(text, 'nodejs_eventloop_lag_p99_seconds') * 1000
  } catch {
    return undefined
  }
}

/** Least-squares slope of y over x (0 for fewer than two distinct x). */
export function linearSlope (points: readonly { readonly x: number, readonly y: number }[]): number {
  const n = points.length
  if (n < 2) return 0
  let sumX = 0
  let sumY = 0
  for (const p of points) { sumX += p.x; sumY += p.y }
  const meanX = sumX / n
  const meanY = sumY / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.x - meanX) * (p.y - meanY)
    den += (p.x - meanX) ** 2
  }
  return den === 0 ? 0 : num / den
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile (values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
}

/** How one process behaved after warm-up (its longest-lived incarnation). */
export interface ProcessTrend {
  readonly role: string
  readonly pid: number
  readonly samples: number
  /** Minutes the incarnation was sampled after warm-up. */
  readonly spanMinutes: number
  /** Incarnations seen in the whole soak (a killed and restarted process has several). */
  readonly incarnations: number
  readonly rssFirstMiB: number
  readonly rssLastMiB: number
  readonly rssMaxMiB: number
  readonly rssSlopeMiBPerHour: number
  readonly fdsFirst: number
  readonly fdsLast: number
  readonly fdsMax: number
  readonly fdsSlopePerHour: number
  readonly eventLoopP99MaxMs: number | undefined
  readonly eventLoopP99MedianMs: number | undefined
}

const MiB = 1024 * 1024
const HOUR_MS = 3_600_000

/** The trend of every role from its samples at or after `warmUpMs`. */
export function summarizeTrends (samples: readonly ProcessSample[], warmUpMs: number): ProcessTrend[] {
  const roles = [...new Set(samples.map((s) => s.role))].sort()
  const trends: ProcessTrend[] = []
  for (const role of roles) {
    const ofRole = samples.filter((s) => s.role === role)
    const byPid = new Map<number, ProcessSample[]>()
    for (const s of ofRole) if (s.atMs >= warmUpMs) byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s])
    const longest = [...byPid.entries()].sort((a, b) => b[1].length - a[1].length)[0]
    if (longest === undefined || longest[1].length < 3) continue
    const [pid, series] = longest
    const first = series[0]
    const last = series.at(-1)
    if (first === undefined || last === undefined) continue
    const lags = series.map((s) => s.eventLoopP99Ms).filter((v): v is number => v !== undefined)
    trends.push({
      role,
      pid,
      samples: series.length,
      spanMinutes: (last.atMs - first.atMs) / 60_000,
      incarnations: new Set(ofRole.map((s) => s.pid)).size,
      rssFirstMiB: first.rssBytes / MiB,
      rssLastMiB: last.rssBytes / MiB,
      rssMaxMiB: Math.max(...series.map((s) => s.rssBytes)) / MiB,
      rssSlopeMiBPerHour: linearSlope(series.map((s) => ({ x: s.atMs / HOUR_MS, y: s.rssBytes / MiB }))),
      fdsFirst: first.openFds,
      fdsLast: last.openFds,
      fdsMax: Math.max(...series.map((s) => s.openFds)),
      fdsSlopePerHour: linearSlope(series.map((s) => ({ x: s.atMs / HOUR_MS, y: s.openFds }))),
      eventLoopP99MaxMs: lags.length === 0 ? undefined : Math.max(...lags),
      eventLoopP99MedianMs: lags.length === 0 ? undefined : quantile(lags, 0.5),
    })
  }
  return trends
}

const fixed = (value: number | undefined, digits = 1): string => value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits)

/** The Markdown table of the trends. */
export function formatTrendTable (trends: readonly ProcessTrend[]): string {
  return [
    '| process | incarnations | sampled after warm-up | RSS first → last (max), MiB | RSS slope, MiB/h | fds first → last (max) | fds slope, /h | event-loop p99 median / max, ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...trends.map((t) => `| ${t.role} | ${t.incarnations} | ${t.samples} samples, ${fixed(t.spanMinutes)} min | ${fixed(t.rssFirstMiB)} → ${fixed(t.rssLastMiB)} (${fixed(t.rssMaxMiB)}) | ${fixed(t.rssSlopeMiBPerHour)} | ${t.fdsFirst} → ${t.fdsLast} (${t.fdsMax}) | ${fixed(t.fdsSlopePerHour)} | ${fixed(t.eventLoopP99MedianMs)} / ${fixed(t.eventLoopP99MaxMs)} |`),
  ].join('\n')
}
