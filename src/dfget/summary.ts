/**
 * The lines dfget prints on stderr: the final summary (other tools parse its
 * `from source X, supernode Y, peers Z` part — keep that wording exactly) and the one-line
 * error.
 */
import { formatBytes } from '../common/byte-size.js'
import { formatDurationMs } from '../common/duration.js'
import { redactUrl } from '../common/http/redact-url.js'
import { formatCliErrorLine } from '../common/cli-convention.js'
import type { DfgetResult } from './dfget.js'

/** `dfget: done <url> -> <output>: 64.0 MiB in 1.52 s (42.1 MiB/s) from source 0 B, supernode 8.0 MiB, peers 56.0 MiB` */
export function formatSummaryLine (result: DfgetResult): string {
  const seconds = Math.max(result.durationMs, 1) / 1000
  return `dfget: done ${redactUrl(result.url)} -> ${result.output}: ${formatBytes(result.lengthBytes)} in ${formatDurationMs(result.durationMs)}` +
    ` (${formatBytes(result.lengthBytes / seconds)}/s)` +
    ` from source ${formatBytes(result.bytesFromSource)}, supernode ${formatBytes(result.bytesFromSupernode)}, peers ${formatBytes(result.bytesFromPeers)}`
}

/** `dfget: error DF_ERR_SOURCE_STATUS: source answered 404 for http://…` (one line, as every program's failures). */
export function formatErrorLine (err: unknown): string {
  return formatCliErrorLine('dfget', err)
}
