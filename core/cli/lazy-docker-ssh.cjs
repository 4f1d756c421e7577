// docker-modem's SSH transport, required on its first use rather than when docker-modem loads: it
// brings ssh2 and its crypto, and only a docker host given as ssh:// uses it (see load-hooks.ts).
// Same function, same arguments. CommonJS, because docker-modem require()s it.
/* global module, require */
'use strict'

let real

module.exports = function ssh(...args) {
  // docker-modem as dockerode sees it (it is dockerode's dependency, not ours).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  real ??= require(
    require.resolve('docker-modem/lib/ssh.js', { paths: [require.resolve('dockerode')] }),
  )
  return real(...args)
}
