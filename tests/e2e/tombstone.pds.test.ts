// The tombstone suite again, with every meshlet reading from the `pds` source.
import { useSource } from './_util.js'

useSource('pds')
await import('./tombstone.test.js')
