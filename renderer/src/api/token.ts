// The daemon prints a dashboard link with the token in the fragment (#token=…), which browsers
// never send to a server. It is moved into sessionStorage at once, so it leaves the address bar
// (and the history, and screenshots) but a reload of the same tab still works.
const KEY = 'meshlet.token'

export function takeToken(): string | undefined {
  const params = new URLSearchParams(window.location.hash.slice(1))
  const fromLink = params.get('token')
  if (fromLink) {
    params.delete('token')
    const rest = params.toString()
    const { pathname, search } = window.location
    window.history.replaceState(
      window.history.state,
      '',
      pathname + search + (rest ? `#${rest}` : ''),
    )
    try {
      window.sessionStorage.setItem(KEY, fromLink)
    } catch {
      // Storage can be disabled; the page still works until it is reloaded.
    }
    return fromLink
  }
  try {
    return window.sessionStorage.getItem(KEY) ?? undefined
  } catch {
    return undefined
  }
}
