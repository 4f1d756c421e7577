// The median of several runs after a few warm-up ones: the machine is shared, and the first
// calls measure the JIT compiler rather than the code.
export function medianMs(runs: number, f: () => void, warmUps = 3): number {
  for (let i = 0; i < warmUps; i++) f()
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    f()
    times.push(performance.now() - t0)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}
