import type { Command } from 'commander';
import type { DeploymentView } from '../../api/types.js';
import { contextOf } from '../context.js';
import { keyValues, labelRows, preprocessRows, table, when, type Streams } from '../output.js';

function scriptCell(d: DeploymentView): string {
  return d.has_script ? `yes (${d.replicas} replica${d.replicas === 1 ? '' : 's'})` : 'no';
}

/** "0, 1", with a script "0, 1 (sandboxes: 2 on 0, 1 on 1)", and why it is kept apart. */
function placementCell(d: DeploymentView): string {
  const { workers, sandboxes, misbehaving } = d.placement;
  const boxes = Object.entries(sandboxes).map(([w, n]) => `${n} on ${w}`);
  return [
    workers.join(', '),
    boxes.length > 0 ? ` (sandboxes: ${boxes.join(', ')})` : '',
    misbehaving ? `; kept apart after ${misbehaving.reason} until ${when(misbehaving.until)}` : '',
  ].join('');
}

export function registerDeployments(program: Command, io: Streams): void {
  program
    .command('deployments')
    .summary('list deployments, or show one')
    .description('List the deployments; with a name, show that one.')
    .argument('[name]', 'a deployment name')
    .action(async (name: string | undefined, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      if (name === undefined) {
        const list = await ctx.client.listDeployments();
        ctx.show(list, () =>
          list.length === 0
            ? 'no deployments'
            : table(
                ['name', 'model', 'version', 'script', 'endpoint', 'updated'],
                list.map((d) => [d.deployment_name, d.model_name, d.model_version, scriptCell(d), d.endpoint_url, when(d.updated)]),
              ),
        );
        return;
      }
      const d = await ctx.client.getDeployment(name);
      ctx.show(d, () =>
        keyValues([
          ['deployment', d.deployment_name],
          ['model', `${d.model_name} version ${d.model_version}`],
          ['script', scriptCell(d)],
          ['workers', placementCell(d)],
          ['timeout', `${d.timeout_ms} ms`],
          ['memory limit', `${d.memory_limit_mb} MB`],
          ['per call', `at most ${d.max_records} records, ${d.max_elements} values`],
          ...preprocessRows(d),
          ...labelRows(d),
          ['endpoint', d.endpoint_url],
          ['created', when(d.created)],
          ['updated', when(d.updated)],
        ]),
      );
    });

  program
    .command('token')
    .summary('replace a deployment\'s token and print the new one')
    .description('Replace the deployment\'s token and print the new one; the old one is refused from then on.')
    .argument('<deployment>', 'the deployment name')
    .action(async (name: string, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      const answer = await ctx.client.rotateToken(name);
      ctx.show(answer, () => answer.access_token);
    });

  program
    .command('stats')
    .summary('a deployment\'s calls since the server started')
    .description('Calls per function since the server started (count, errors, latency in the front), and the state of the script\'s sandboxes.')
    .argument('<deployment>', 'the deployment name')
    .action(async (name: string, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      const s = await ctx.client.stats(name);
      ctx.show(s, () => {
        const box = s.sandboxes;
        const sandboxes = box.state === 'none' ? 'none (no script)' : `${box.state}, ${box.replicas} replica${box.replicas === 1 ? '' : 's'}, ${box.crashes} crash${box.crashes === 1 ? '' : 'es'}`;
        const head = keyValues([
          ['deployment', s.deployment_name],
          ['since', when(s.since)],
          ['sandboxes', sandboxes],
        ]);
        if (s.functions.length === 0) return `${head}\n\nno calls yet`;
        const ms = (x: number) => x.toFixed(2);
        const rows = s.functions.map((f) => [f.function, f.count, f.errors, ms(f.latency_ms.avg), ms(f.latency_ms.median), ms(f.latency_ms.min), ms(f.latency_ms.max), when(f.last_call)]);
        return `${head}\n\n${table(['function', 'calls', 'errors', 'avg ms', 'median ms', 'min ms', 'max ms', 'last call'], rows)}`;
      });
    });
}
