// The presence (host loss) suite again, with every meshlet reading from the `pds` source.
import { useSource } from './_util.js'

useSource('pds')
await import('./presence.test.js')
