/** How the page writes sizes, rates, shares and ages. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

/** 1536 → "1.5 KiB". */
export function formatBytes (bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1 }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${value.toFixed(digits)} ${UNITS[unit] ?? 'B'}`
}

/** Bytes per second → "12.3 MiB/s"; 0 → "–". */
export function formatRate (bytesPerSec: number): string {
  return bytesPerSec <= 0 ? '–' : `${formatBytes(bytesPerSec)}/s`
}

/** 0.4567 → "45.7 %"; whole at 0 and 1. */
export function formatShare (share: number): string {
  if (share <= 0) return '0 %'
  if (share >= 1) return '100 %'
  return `${(share * 100).toFixed(1)} %`
}

/** Milliseconds → "42 s", "3 m 5 s", "2 h 10 m", "3 d 4 h". */
export function formatAge (ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} m ${s % 60} s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h} h ${m % 60} m`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

/** "http://host:port/path/to/file.bin" → { name: "file.bin", where: "host:port/path/to/" }. */
export function splitUrl (url: string): { name: string, where: string } {
  try {
    const parsed = new URL(url)
    const slash = parsed.pathname.lastIndexOf('/')
    const name = parsed.pathname.slice(slash + 1)
    return { name: name === '' ? parsed.host : decodeURIComponent(name), where: `${parsed.host}${parsed.pathname.slice(0, slash + 1)}${parsed.search === '' ? '' : '?…'}` }
  } catch {
    return { name: url, where: '' }
  }
}
