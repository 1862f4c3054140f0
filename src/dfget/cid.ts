/**
 * The cid of a dfget run (one download): host, pid, time and randomness, so two runs on
 * one host, or one run's restarts, never share one.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { parseClientId, type ClientId } from '../protocol/ids.js'

/** A new cid, valid as a ClientId. */
export function createCid (): ClientId {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48) || 'dfget'
  return parseClientId(`${host}-${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`)
}
