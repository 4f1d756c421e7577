// The released app's OAuth client-metadata document (docs/oauth.md), for the pages workflow and
// the release workflow, which must agree on one client_id:
//   tsx scripts/client-metadata.ts --client-id     prints the client_id
//   tsx scripts/client-metadata.ts --out <dir>     writes <dir>/oauth/client-metadata.json
// The pages' base URL is MESHLET_PAGES_URL (a custom domain), else GitHub's default for
// GITHUB_REPOSITORY (set on every Actions runner).
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import {
  CLIENT_METADATA_PATH,
  clientIdFor,
  pagesUrlOf,
  releaseClientMetadata,
} from '../core/repo/client-metadata.js'
import { clientScope } from '../core/repo/oauth.js'

export function pagesUrl(env: NodeJS.ProcessEnv): string {
  if (env.MESHLET_PAGES_URL) return env.MESHLET_PAGES_URL
  if (env.GITHUB_REPOSITORY) return pagesUrlOf(env.GITHUB_REPOSITORY)
  throw new Error('set MESHLET_PAGES_URL, or GITHUB_REPOSITORY (owner/name)')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'client-id': { type: 'boolean' }, out: { type: 'string' } },
    strict: true,
  })
  const clientId = clientIdFor(pagesUrl(process.env))
  if (values['client-id']) {
    process.stdout.write(`${clientId}\n`)
    return
  }
  if (!values.out) throw new Error('give --client-id or --out <dir>')
  const file = path.join(values.out, CLIENT_METADATA_PATH)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(
    file,
    `${JSON.stringify(releaseClientMetadata(clientId, clientScope()), null, 2)}\n`,
  )
  process.stderr.write(`client-metadata: wrote ${file} for ${clientId}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`client-metadata: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
