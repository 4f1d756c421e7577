// Names of the local test services that scripts/test-infra.sh brings up.
export const TEST_IMAGE = 'commune-test/busybox:1'
export const TEST_REGISTRY = process.env.MESHLET_TEST_REGISTRY ?? '127.0.0.1:5055'
export const REGISTRY_IMAGE = `${TEST_REGISTRY}/commune/busybox:1`
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** A real home router (UPnP IGD, NAT-PMP) for core/portmap, from Debian's miniupnpd-nftables. */
export const MINIUPNPD = '/usr/sbin/miniupnpd'

/** Debian's Chromium, headless, as DESIGN §9 says to launch it here. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}
