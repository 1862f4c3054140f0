/** Human-readable byte counts (binary units), for summaries and progress bars. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

/** "0 B", "512 B", "8.0 MiB", "1.25 GiB". */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${value.toFixed(1)} ${UNITS[unit] ?? 'B'}`
}
