// The fairness (audited priority) suite again, with every meshlet reading from the
// `jetstream` source (a Jetstream-protocol server over the local PDS; records confirmed with
// their PDS).
import { useSource } from './_util.js'

useSource('jetstream')
await import('./fairness.test.js')
