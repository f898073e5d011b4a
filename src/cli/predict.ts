// kubectl ftj predict: files sent to a predictor over the Open Inference Protocol, one request a file so
// that each gets its own answer. Without a predictor, the checkout's own predictor runs on this machine
// as a child process: the plugin itself never loads tfjs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from './kube-context.ts';

export interface Prediction {
  file: string;
  /** The top classes, most probable first, with their probabilities. */
  top?: { name: string; probability: number }[];
  /** Why the predictor could not classify the file (its 4xx answer). */
  error?: string;
}

interface InferResponse {
  outputs?: { name: string; shape: number[]; data: (number | string)[] }[];
  error?: string;
}

/** Each file's top `topK` classes from the predictor at `url` serving `model`. */
export async function predictFiles(url: string, model: string, files: string[], topK: number): Promise<Prediction[]> {
  const endpoint = `${url.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(model)}/infer`;
  // A text classifier takes each file's text; an image classifier, its bytes (base64).
  const texts = (await inputKind(endpoint.replace(/\/infer$/, ''))) === 'text';
  return Promise.all(
    files.map(async (file): Promise<Prediction> => {
      const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
      });
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: basename(file),
          inputs: [{ name: 'input', datatype: 'BYTES', shape: [1], data: [bytes.toString(texts ? 'utf8' : 'base64')] }],
          parameters: { top_k: topK },
        }),
      });
      const answer = await response.text();
      let body: InferResponse;
      try {
        body = JSON.parse(answer) as InferResponse;
      } catch {
        throw new CliError(
          `${endpoint} answered ${response.status} with no inference response: ${answer.slice(0, 200)}`,
        );
      }
      if (!response.ok) return { file, error: body.error ?? `HTTP ${response.status}` };
      return { file, top: topClasses(body, topK) };
    }),
  );
}

/** What the model at `modelUrl` takes (its metadata's parameters.input_kind): image, or text. */
async function inputKind(modelUrl: string): Promise<string | undefined> {
  const response = await fetch(modelUrl).catch((err: Error & { cause?: { code?: string } }) => {
    throw new CliError(`${modelUrl}: ${err.cause?.code ?? err.message}: is the predictor running there?`);
  });
  const body = (await response.json().catch(() => ({}))) as { error?: string; parameters?: { input_kind?: string } };
  if (response.status === 404) throw new CliError(`${modelUrl}: ${body.error ?? 'not found'} (see --model-name)`);
  return body.parameters?.input_kind;
}

/** Top classes paired with their probabilities: top_classes is sorted as the sorted probabilities are. */
function topClasses(body: InferResponse, topK: number): { name: string; probability: number }[] {
  const names = body.outputs?.find((o) => o.name === 'top_classes')?.data as string[] | undefined;
  const probabilities = body.outputs?.find((o) => o.name === 'probabilities')?.data as number[] | undefined;
  if (!names || !probabilities) throw new CliError('the predictor answered without top_classes and probabilities');
  const sorted = [...probabilities].sort((a, b) => b - a).slice(0, topK);
  return names.slice(0, topK).map((name, i) => ({ name, probability: sorted[i]! }));
}

/** The checkout's predictor entry point; the bundled plugin (dist/kubectl-ftj.mjs) has none beside it. */
const PREDICTOR_MAIN = fileURLToPath(new URL('../predictor/main.ts', import.meta.url));

/**
 * Runs the model at `location` with the checkout's predictor on a free loopback port, for as long as `use`
 * runs. The predictor reads the location as a pod would (file://, http(s)://, s3:// with the AWS_*
 * environment); a pvc:// location is on the cluster's volume and out of this machine's reach.
 */
export async function withLocalPredictor<T>(
  location: string,
  model: string,
  use: (url: string) => Promise<T>,
): Promise<T> {
  if (location.startsWith('pvc://'))
    throw new CliError(
      `the model is at ${location}, on a volume of the cluster that this machine cannot read: serve it there ` +
        `(deploy/predictor/predictor.yaml), kubectl port-forward to it, and pass --url`,
    );
  if (!existsSync(PREDICTOR_MAIN))
    throw new CliError(
      'no --url given, and this kubectl-ftj has no predictor to run the model here (the bundle carries none): ' +
        'serve the model (deploy/predictor/predictor.yaml), kubectl port-forward to it, and pass --url; ' +
        'or run bin/kubectl-ftj from a checkout',
    );
  const child = spawn(
    process.execPath,
    [PREDICTOR_MAIN, '--model', location, '--model-name', model, '--port', '0', '--poll-seconds', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const seen = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const listening = /listening on :(\d+)/.exec(output);
      if (listening) resolve(Number(listening[1]));
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => {
      const last = output.trim().split('\n').slice(-3).join('\n');
      reject(new CliError(`the predictor could not serve ${location} (exit code ${code}):\n${last}`));
    });
  });
  try {
    return await use(`http://127.0.0.1:${port}`);
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
