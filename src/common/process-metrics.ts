/**
 * The process's own metrics on a program's registry: prom-client's default set (resident
 * memory `process_resident_memory_bytes`, open file descriptors `process_open_fds`, heap,
 * GC, and event-loop delay `nodejs_eventloop_lag_seconds` / `nodejs_eventloop_lag_p99_seconds`
 * …). Called once per process, by the composition root (main.ts): the event-loop monitor it
 * starts lives as long as the process, so library code and tests that build many servers in
 * one process do not call it.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client'

/** Event-loop delay is sampled at this resolution. */
const EVENT_LOOP_RESOLUTION_MS = 20

const collected = new WeakSet<Registry>()

/** Adds the process metrics to `registry` (once; later calls for the same registry do nothing). */
export function collectProcessMetrics (registry: Registry): void {
  if (collected.has(registry)) return
  collected.add(registry)
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS })
}
