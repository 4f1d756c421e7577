// The lender's image policy as `meshlet run` flags: the same registry allow-list and maximum
// image size the dashboard's Settings set (core/app/settings.ts checks both).
import { maxImageMiB, registryList, SettingsError, MAX_IMAGE_MIB } from '../app/settings.js'
import type { ImagePolicy } from '../meshlet.js'
import { UsageError, type Options } from './args.js'

export const LENDER_FLAGS = {
  'allow-registry': { type: 'string', multiple: true },
  'max-image-size': { type: 'string' },
} as const satisfies Options

export const LENDER_HELP = `          --allow-registry <host>   run only images from this registry (repeat for more;
                                    docker.io for Docker Hub, ghcr.io, 127.0.0.1:5055). No
                                    bid for others, and their owners see why. Default: any
          --max-image-size <MiB>    pull no image larger than this (its download, as the
                                    registry's manifest states it). A larger one is refused
                                    at start with the status reason image-too-large and
                                    placed elsewhere. Default: no limit
`

/** The flags given, checked; flags not given leave the saved settings be. */
export function lenderPolicyFromFlags(values: Record<string, unknown>): ImagePolicy {
  const out: ImagePolicy = {}
  try {
    const hosts = values['allow-registry'] as string[] | undefined
    if (hosts !== undefined) out.allowRegistries = registryList(hosts)
    const raw = values['max-image-size']
    if (raw !== undefined) {
      if (typeof raw !== 'string' || !/^\d+$/.test(raw)) {
        throw new SettingsError(
          `the maximum image size must be a whole number of MiB from 1 to ${MAX_IMAGE_MIB}; got ${String(raw)}`,
        )
      }
      out.maxImageMiB = maxImageMiB(Number(raw))
    }
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err
    const flag = /registr/.test(err.message) ? '--allow-registry' : '--max-image-size'
    throw new UsageError(`${flag}: ${err.message}`)
  }
  return out
}
