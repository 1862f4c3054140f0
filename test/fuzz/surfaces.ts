/** Every fuzz surface (issue 16), in the order of the report. */
import type { FuzzSurface } from './fuzz-surface.js'
import { dfdaemonProxySurface } from './dfdaemon-surface.js'
import { configFilesSurface, headersSurface, rangesSurface } from './parser-surfaces.js'
import { agentSocketSurface, peerServerSurface } from './peer-surfaces.js'
import { supernodeApiSurface, supernodeDataSurface } from './supernode-surfaces.js'

export const FUZZ_SURFACES: readonly FuzzSurface[] = [
  supernodeApiSurface,
  supernodeDataSurface,
  peerServerSurface,
  agentSocketSurface,
  dfdaemonProxySurface,
  rangesSurface,
  headersSurface,
  configFilesSurface,
]
