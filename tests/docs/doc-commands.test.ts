// Every command in a shell block of the README and docs/ is run here (or, where it needs what a test cannot
// give it, checked for what would make it rot), so none of them goes stale unnoticed. A command no rule
// below recognises fails the test: add a rule when you add a kind of command to the docs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { helm } from '../support/helm.ts';
import { ROOT } from '../support/paths.ts';

interface Shown {
  file: string;
  command: string;
}

/** The commands of every ```sh block, their comments and continuation lines dropped. */
function shownCommands(): Shown[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith('.md'),
  );
  return files.flatMap((file) =>
    [...readFileSync(join(ROOT, file), 'utf8').matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].flatMap(([, block]) => {
      const commands: Shown[] = [];
      let continued = false;
      for (const raw of block!.split('\n')) {
        const line = raw.replace(/\s+#.*$/, '').trim();
        if (!line || line.startsWith('#') || continued) {
          continued = line.endsWith('\\');
          continue;
        }
        continued = line.endsWith('\\');
        commands.push({ file, command: line.replace(/\s*\\$/, '') });
      }
      return commands;
    }),
  );
}

const run = (command: string, args: string[], env: NodeJS.ProcessEnv, timeout = 20_000) =>
  new Promise<{ code: number | null; output: string; killed: boolean }>((resolve) => {
    execFile(command, args, { env, timeout, cwd: ROOT }, (err, stdout, stderr) =>
      resolve({
        code: err ? ((err as { code?: number }).code ?? null) : 0,
        output: `${stdout}${stderr}`,
        killed: !!(err as { killed?: boolean } | null)?.killed,
      }),
    );
  });

/** Signs that the docs are out of date with the command (as opposed to the state of the cluster). */
const ROT = /unknown (command|option)|error: missing required argument|too many arguments|No such file|Cannot find module|not found: .*examples/i;

describe('the commands shown in the README and docs/', () => {
  let namespace = '';
  let env: NodeJS.ProcessEnv = {};
  before(installCRDs);

  it('each one runs (or, needing what a test cannot give, is checked), and none has rotted', async (t) => {
    namespace = await testNamespace(t, 'docs');
    // The job the docs' examples name, and kubectl with the plugin on its PATH.
    await kubeConfig()
      .makeApiClient(CustomObjectsApi)
      .createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: FINETUNEJOB.plural,
        body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name: 'quickstart' }, spec: minimalSpec() },
      });
    const bin = mkdtempSync(join(tmpdir(), 'ftj-docs-'));
    symlinkSync(join(ROOT, 'bin', 'kubectl-ftj'), join(bin, 'kubectl-ftj'));
    symlinkSync(process.env['FTJ_TEST_KUBECTL']!, join(bin, 'kubectl'));
    env = { ...process.env, KUBECONFIG: process.env['FTJ_TEST_KUBECONFIG']!, PATH: `${bin}:${process.env['PATH']}` };
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
      .scripts;

    /** Each rule: what it recognises, and how it runs or checks that command. */
    const rules: [RegExp, (command: string, words: string[]) => Promise<string | undefined>][] = [
      // The kubectl plugin and kubectl itself, in a namespace of their own with a job named quickstart.
      [
        /^(kubectl|bin\/kubectl-ftj) /,
        async (command, words) => {
          const program = words[0] === 'kubectl' ? 'kubectl' : join(ROOT, 'bin', 'kubectl-ftj');
          const args = words.slice(1).filter((w) => w !== '-A');
          if (words.includes('apply')) args.push('--dry-run=server');
          if (!args.includes('-n')) args.push('-n', namespace);
          const watching = args.includes('-w') || args.includes('-f') && !words.includes('apply');
          const result = await run(program, args, env, watching ? 3_000 : 20_000);
          if (ROT.test(result.output)) return `${command}: ${result.output.trim().split('\n')[0]}`;
          // A verb refused for the state of the object (retry of a job that has not failed, logs of a job
          // with no pod yet) is not rot; a watch still running when stopped is fine.
          const state = /Error from server \(NotFound\)|error: FineTuneJob /.test(result.output);
          return result.code === 0 || state || (watching && result.killed)
            ? undefined
            : `${command}: exit ${result.code}: ${result.output.trim().split('\n')[0]}`;
        },
      ],
      [
        /^helm install /,
        async (command, words) => {
          const chart = words.find((w) => w.startsWith('./'))!;
          const rendered = await helm(['template', words[2]!, chart, ...words.slice(words.indexOf(chart) + 1)]).catch(
            (err: Error) => err.message,
          );
          return /kind: Deployment/.test(rendered) ? undefined : `${command}: ${rendered.slice(0, 300)}`;
        },
      ],
      // npm: the scripts it names exist (they are what CI runs); a test file it names exists.
      [
        /^npm /,
        async (command) => {
          for (const part of command.split('&&').map((p) => p.trim().split(/\s+/))) {
            const script = part[1] === 'run' ? part[2]! : part[1]!;
            if (!['install', 'ci', 'pack'].includes(script) && !scripts[script]) return `${command}: no script "${script}"`;
            const file = part.slice(part.indexOf('--') + 1).find((w) => w.endsWith('.ts'));
            if (part.includes('--') && file && !existsSync(join(ROOT, file))) return `${command}: no ${file}`;
          }
          return undefined;
        },
      ],
      // An entry point shown with its flags: it exists and its --help lists each flag shown.
      [
        /^(npx node|node) src\//,
        async (command, words) => {
          const file = words.find((w) => w.startsWith('src/'))!;
          const help = await run(join(ROOT, 'node_modules', 'node', 'bin', 'node'), [file, '--help'], env);
          if (help.code !== 0) return `${command}: --help exit ${help.code}: ${help.output.slice(0, 200)}`;
          const flags = words.flatMap((w) => /^\[?(--[a-z-]+)/.exec(w)?.[1] ?? []);
          const missing = flags.filter((f) => !help.output.includes(f));
          return missing.length ? `${command}: --help has no ${missing.join(', ')}` : undefined;
        },
      ],
      // Needs a served model (the predictor tests send this very request) or a user's shell.
      [/^(curl |-d |ln -s )/, async () => undefined],
    ];

    const failures: string[] = [];
    const shown = shownCommands();
    assert.ok(shown.length > 30, `${shown.length} commands found`);
    for (const { file, command } of shown) {
      const words = command.split(/\s+/);
      const rule = rules.find(([pattern]) => pattern.test(command));
      if (!rule) failures.push(`${file}: no rule runs or checks "${command}"`);
      else {
        const failure = await rule[1](command, words);
        if (failure) failures.push(`${file}: ${failure}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});
