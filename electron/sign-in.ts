// Sign-in with atproto OAuth finishes in the system browser, not in our window: the user's
// password and any passkey stay with the browser and the authorization server, and the page can
// check who is asking (DESIGN §10: the provider checks sec-fetch-* headers). The core's
// 'auth.signIn' returns the page's URL; this opens it, after the same trust check as any link.
import { ApiError, type ApiHost, type Args, type MethodName, type Result } from '../core/api.js'
import type { Logger } from '../core/log.js'
import { checkExternalUrl, type ExternalUrlPolicy } from './trusted-url.js'

export interface SignInOpener {
  policy: ExternalUrlPolicy
  /** shell.openExternal in the app. */
  open(url: string): Promise<void>
  log: Logger
}

/** The host as the UI sees it: the same calls, and 'auth.signIn' also opens its page. */
export function openingSignInPages(host: ApiHost, opener: SignInOpener): ApiHost {
  return {
    subscribe: (event, listener) => host.subscribe(event, listener),
    async call<M extends MethodName>(method: M, args: Args<M>): Promise<Result<M>> {
      const result = await host.call(method, args)
      if (method !== 'auth.signIn') return result
      const { url } = result as Result<'auth.signIn'>
      const check = checkExternalUrl(url, opener.policy)
      if (!check.ok) {
        opener.log.log('warn', 'signin.untrusted-url', { reason: check.reason })
        // A sign-in the user cannot finish must not stay pending in the dashboard.
        await host.call('auth.cancelSignIn', undefined).catch((err: unknown) => {
          opener.log.log('warn', 'signin.cancel-failed', { error: err })
        })
        throw new ApiError(
          'unavailable',
          `The sign-in page is at an address the app will not open (${check.reason}).`,
        )
      }
      try {
        await opener.open(check.url)
      } catch (err) {
        // No browser to hand it to: the sign-in stays pending and the dashboard shows its URL,
        // so the user can still finish it by hand.
        opener.log.log('warn', 'signin.open-failed', { error: err })
      }
      return result
    },
  }
}
