/**
 * How fast this machine is right now, noted next to every absolute benchmark figure
 * (machines of one kind differ 2–4× from day to day): SHA-256 of warm memory on one core
 * (node:crypto, the OpenSSL the programs use) and a warm memory copy.
 */
import { createHash } from 'node:crypto'

export interface MachineSpeed {
  readonly sha256MiBps: number
  readonly memcpyGiBps: number
}

export function measureMachineSpeed (): MachineSpeed {
  const size = 64 * 1024 * 1024
  const a = Buffer.alloc(size, 1)
  const b = Buffer.alloc(size, 2)
  const best = (fn: () => void): number => {
    let bestMs = Number.POSITIVE_INFINITY
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      fn()
      bestMs = Math.min(bestMs, performance.now() - started)
    }
    return bestMs
  }
  const hashMs = best(() => { createHash('sha256').update(a).digest() })
  const copyMs = best(() => { a.copy(b) })
  return { sha256MiBps: (size / 1024 / 1024) / (hashMs / 1000), memcpyGiBps: (size / 1024 ** 3) / (copyMs / 1000) }
}

export function formatMachineSpeed (speed: MachineSpeed): string {
  return `sha256 ${speed.sha256MiBps.toFixed(0)} MiB/s on one core, warm memcpy ${speed.memcpyGiBps.toFixed(1)} GiB/s`
}
