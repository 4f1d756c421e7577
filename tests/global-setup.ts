// Every test talks to real services; none may skip quietly because one is missing. This checks
// them once, before any test, and fails the run with what to do.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { TEST_IMAGE, TEST_REGISTRY, CHROMIUM, MINIUPNPD } from './infra.js'

export default async function setup(): Promise<void> {
  const problems: string[] = []
  const [major] = process.versions.node.split('.').map(Number)
  if ((major ?? 0) < 22)
    problems.push(`Node ${process.version}: the @atproto packages need Node >= 22`)
  try {
    execFileSync('docker', ['image', 'inspect', TEST_IMAGE], { stdio: 'ignore' })
  } catch {
    problems.push(`Docker engine not reachable or test image ${TEST_IMAGE} missing`)
  }
  try {
    const res = await fetch(`http://${TEST_REGISTRY}/v2/`)
    if (!res.ok) problems.push(`registry at ${TEST_REGISTRY} answered ${res.status}`)
  } catch {
    problems.push(`no registry at ${TEST_REGISTRY}`)
  }
  if (!existsSync(CHROMIUM)) problems.push(`no Chromium at ${CHROMIUM}`)
  // core/portmap's router lab: root for network namespaces, and Debian's miniupnpd.
  if (!existsSync(MINIUPNPD)) problems.push(`no miniupnpd at ${MINIUPNPD}`)
  if (process.getuid?.() !== 0) problems.push('not root: the router tests need network namespaces')
  if (problems.length > 0) {
    throw new Error(
      `test services missing:\n  - ${problems.join('\n  - ')}\n` +
        'Run the tests with `scripts/dev test`, which starts them (or run scripts/test-infra.sh).',
    )
  }
}
