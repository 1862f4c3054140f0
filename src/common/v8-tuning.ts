/**
 * V8 settings for the processes that move bulk data (supernode, dfdaemon, dfget and its
 * peer server).
 *
 * They receive and send hundreds of MB as Buffers: little JavaScript heap, much memory
 * outside it. With V8's default, a task starts incremental marking again and again while
 * the heap is far from its limit, and every cycle ends in a full mark-compact that frees a
 * few MB (a 75 MiB image pull through dfdaemon on loopback: ~5 per pull in each process).
 * Without the task, marking starts when allocation reaches V8's limits (the JavaScript
 * heap's and the external memory's): the pull costs about a quarter less CPU in the
 * supernode and in dfdaemon (~330 -> ~250 ms each), peak RSS a few percent more
 * (dfdaemon ~147 -> ~151-164 MiB). docs/configuration.md "Garbage collector".
 * `DF_NO_V8_TUNING=1` keeps V8's defaults. The flag is V8's own: an engine without it
 * prints one line and goes on.
 */
import { setFlagsFromString } from 'node:v8'

let tuned = false

/** Applies the settings once per process; call before the data path starts. */
export function tuneV8ForBulkData (): void {
  if (tuned || process.env.DF_NO_V8_TUNING === '1') return
  tuned = true
  setFlagsFromString('--no-incremental-marking-task')
}
