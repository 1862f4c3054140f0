/**
 * `npm run bench -- swarm --hosts N --rate R --size S`: the multi-host lab (issue 6).
 * Being built; until then it says so and exits 2.
 */
export async function runSwarmBench (_argv: readonly string[]): Promise<number> {
  console.error('bench swarm: the multi-host lab is not built yet (issue 6)')
  return 2
}
