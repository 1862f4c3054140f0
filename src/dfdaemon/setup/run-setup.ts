/**
 * `dfdaemon setup <engine> [--check]`: which mirror and registries (flags, else the
 * configuration file, else the defaults), then the engine's writer or check.
 */
import { DfError } from '../../protocol/errors.js'
import { DEFAULT_DFDAEMON_PORT, loadDfdaemonConfigFile, type DfdaemonOptions } from '../config.js'
import { checkContainerd, setupContainerd, DEFAULT_CONTAINERD_CONFIG, DEFAULT_HOSTS_DIR } from './containerd.js'
import { checkDocker, setupDocker, DEFAULT_DAEMON_JSON } from './docker.js'
import { checkPodman, setupPodman, DEFAULT_REGISTRIES_DIR } from './podman.js'
import { mirrorUrlOf, parseMirroredRegistry, pingDfdaemon, runProgram, type CheckOutcome, type CheckTools, type MirrorSetup } from './mirror.js'

/** The engines `dfdaemon setup` configures. */
export const SETUP_ENGINES = ['containerd', 'docker', 'podman'] as const
export type SetupEngine = typeof SETUP_ENGINES[number]

/** Flags of `dfdaemon setup <engine>`, raw. */
export interface SetupFlags {
  readonly engine: SetupEngine
  /** Registries mirrored (URL or host[:port]); default the config file's registry_mirror.remote. */
  readonly registry?: readonly string[]
  /** dfdaemon's port; default the config file's, else 65001. */
  readonly port?: string
  readonly config?: string
  /** Say whether the engine uses the mirror instead of writing anything. */
  readonly check?: boolean
  readonly hostsDir?: string
  readonly containerdConfig?: string
  readonly daemonJson?: string
  readonly registriesDir?: string
}

/** Exit status of a `--check` that found the mirror not in effect. */
export const EXIT_NOT_IN_EFFECT = 3

/** The mirror and registries a setup command configures. @throws DF_ERR_CONFIG_INVALID */
export async function resolveMirrorSetup (flags: SetupFlags): Promise<MirrorSetup> {
  const file: DfdaemonOptions = flags.config === undefined ? {} : await loadDfdaemonConfigFile(flags.config)
  let port = file.port ?? DEFAULT_DFDAEMON_PORT
  if (flags.port !== undefined) {
    if (!/^\d{1,5}$/.test(flags.port)) throw new DfError('DF_ERR_CONFIG_INVALID', `--port: must be a number from 1 to 65535 (got "${flags.port}")`, { details: { field: 'port' } })
    port = Number(flags.port)
  }
  if (port < 1 || port > 65535) throw new DfError('DF_ERR_CONFIG_INVALID', `--port: engines need dfdaemon's fixed port, from 1 to 65535 (got ${port})`, { details: { field: 'port' } })
  const given = flags.registry ?? (file.registryUrl === undefined ? [] : [file.registryUrl])
  const registries = given.map((value) => parseMirroredRegistry(value))
  if (registries.length === 0 && flags.engine !== 'docker') {
    throw new DfError('DF_ERR_CONFIG_INVALID', '--registry: which registries does dfdaemon mirror? Give --registry (repeatable) or --config with registry_mirror.remote', { details: { field: 'registry' } })
  }
  const unique = registries.filter((registry, i) => registries.findIndex((r) => r.host === registry.host) === i)
  return { mirrorUrl: mirrorUrlOf(file.listen ?? '127.0.0.1', port), registries: unique }
}

export interface SetupRun {
  /** Lines for stdout. */
  readonly out: readonly string[]
  /** 0, or EXIT_NOT_IN_EFFECT with `error`. */
  readonly status: number
  readonly error?: DfError
}

/** Runs `dfdaemon setup <engine>`. @throws DfError (DF_ERR_CONFIG_INVALID, DF_ERR_CONFIG_UNUSABLE) */
export async function runSetupCommand (flags: SetupFlags, tools: CheckTools = { run: runProgram, ping: pingDfdaemon }): Promise<SetupRun> {
  const setup = await resolveMirrorSetup(flags)
  const prefix = `dfdaemon: setup ${flags.engine}: `
  if (flags.check === true) {
    let outcome: CheckOutcome
    switch (flags.engine) {
      case 'containerd': outcome = await checkContainerd(setup, flags.hostsDir ?? DEFAULT_HOSTS_DIR, flags.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG, tools); break
      case 'docker': outcome = await checkDocker(setup, tools); break
      case 'podman': outcome = await checkPodman(setup, tools); break
    }
    if (outcome.inEffect) return { out: [`${prefix}in effect: ${outcome.detail}`], status: 0 }
    return { out: [], status: EXIT_NOT_IN_EFFECT, error: new DfError('DF_ERR_PROXY_MIRROR_NOT_IN_EFFECT', `${flags.engine}: ${outcome.missing}`) }
  }
  let report
  switch (flags.engine) {
    case 'containerd': report = await setupContainerd(setup, flags.hostsDir ?? DEFAULT_HOSTS_DIR); break
    case 'docker': report = await setupDocker(setup, flags.daemonJson ?? DEFAULT_DAEMON_JSON); break
    case 'podman': report = await setupPodman(setup, flags.registriesDir ?? DEFAULT_REGISTRIES_DIR); break
  }
  return { out: report.lines.map((line) => `${prefix}${line}`), status: 0 }
}
