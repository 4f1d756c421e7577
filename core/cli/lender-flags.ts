// The lender's image policy as `meshlet run` flags: the same registry allow-list and maximum
// image size the dashboard's Settings set (core/app/settings.ts checks both).
import { maxImageMiB, registryList, SettingsError, MAX_IMAGE_MIB } from '../app/settings.js'
import { UsageError, type Options } from './args.js'

export const LENDER_FLAGS = {
  'allow-registry': { type: 'string', multiple: true },
  'max-image-size': { type: 'string' },
} as const satisfies Options

export const LENDER_HELP = `          --allow-registry <host>   run only images from this registry (repeat for more;
                                    docker.io for Docker Hub, ghcr.io, 127.0.0.1:5055). No
                                    bid for others, and their owners see why. Default: any
          --allow-registry any      any registry again (clears a saved allow-list)
          --max-image-size <MiB>    pull no image larger than this (its download, as the
                                    registry's manifest states it): no bid for a larger
                                    one (image-too-large) or one whose registry will not
                                    say (image-size-unknown). Default: no limit
          --max-image-size 0        no limit again (clears a saved one)
`

/** The image policy the flags ask for: a value sets it, null clears what was saved, an absent
 *  field leaves the saved one be. */
export interface LenderPolicyFlags {
  allowRegistries?: string[] | null
  maxImageMiB?: number | null
}

/** The flags given, checked; flags not given leave the saved settings be. */
export function lenderPolicyFromFlags(values: Record<string, unknown>): LenderPolicyFlags {
  const out: LenderPolicyFlags = {}
  try {
    const hosts = values['allow-registry'] as string[] | undefined
    if (hosts?.includes('any')) {
      if (hosts.length > 1) {
        throw new UsageError('--allow-registry: any means every registry; give it alone')
      }
      out.allowRegistries = null
    } else if (hosts !== undefined) out.allowRegistries = registryList(hosts)
    const raw = values['max-image-size']
    if (raw !== undefined) {
      if (typeof raw !== 'string' || !/^\d+$/.test(raw)) {
        throw new SettingsError(
          `the maximum image size must be a whole number of MiB from 1 to ${MAX_IMAGE_MIB} (0: no limit); got ${String(raw)}`,
        )
      }
      out.maxImageMiB = Number(raw) === 0 ? null : maxImageMiB(Number(raw))
    }
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err
    const flag = /registr/.test(err.message) ? '--allow-registry' : '--max-image-size'
    throw new UsageError(`${flag}: ${err.message}`)
  }
  return out
}
