/**
 * Randomness for the scheduler, injected (STYLE.md B10.5) so that tests seed it. A Random
 * returns a float in [0, 1), like Math.random.
 */
import { randomInt } from 'node:crypto'

export type Random = () => number

/** A fast seeded generator (mulberry32); the same seed gives the same sequence. */
export function createSeededRandom (seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A generator seeded from the system's entropy (production default). */
export function createRandom (): Random {
  return createSeededRandom(randomInt(0, 2 ** 32 - 1))
}
