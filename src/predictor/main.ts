// The predictor's entry point (the predictor image's command; KServe's ClusterServingRuntime runs it with
// --model /mnt/models). `--help` lists the flags; each also reads an environment variable.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PredictorServer } from './predictor-server.ts';

const integer =
  (min: number, max: number) =>
  (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}".`);
    }
    return parsed;
  };

const options = new Command('finetune-predictor')
  .description(
    'Serves a fine-tuned model over the Open Inference Protocol (KServe V2 REST), with the preprocessing it was trained with.',
  )
  .addOption(
    new Option(
      '--model <location>',
      'the exported model: a folder or its model.json (a path, file://, http(s)://, s3://), or a promotion pointer (latest.json), followed as it moves',
    )
      .env('FTJ_MODEL')
      .default('/mnt/models'),
  )
  .addOption(
    new Option('--model-name <name>', "the model's name in /v2/models/NAME").env('FTJ_MODEL_NAME').default('model'),
  )
  .addOption(
    new Option('--port <port>', 'HTTP port (also /metrics)').env('FTJ_PORT').default(8080).argParser(integer(0, 65535)),
  )
  .addOption(
    new Option('--max-batch-size <n>', 'examples in one model call at most')
      .env('FTJ_MAX_BATCH_SIZE')
      .default(32)
      .argParser(integer(1, 4096)),
  )
  .addOption(
    new Option(
      '--max-batch-wait-ms <ms>',
      'how long a request waits for others when the model is free (0: none; under load batches form anyway)',
    )
      .env('FTJ_MAX_BATCH_WAIT_MS')
      .default(0)
      .argParser(integer(0, 10_000)),
  )
  .addOption(
    new Option('--max-queue <n>', 'examples waiting at most; beyond, 503 with Retry-After')
      .env('FTJ_MAX_QUEUE')
      .default(1024)
      .argParser(integer(1, 1_000_000)),
  )
  .addOption(
    new Option('--poll-seconds <s>', 'how often a pointer is checked (0: only on SIGHUP)')
      .env('FTJ_POLL_SECONDS')
      .default(30)
      .argParser(integer(0, 86_400)),
  )
  .addOption(
    new Option('--cache-dir <dir>', 'where remote models are cached')
      .env('FTJ_CACHE_DIR')
      .default(join(tmpdir(), 'finetune-cache')),
  )
  .showHelpAfterError('(finetune-predictor --help lists the flags)')
  .parse()
  .opts<{
    model: string;
    modelName: string;
    port: number;
    maxBatchSize: number;
    maxBatchWaitMs: number;
    maxQueue: number;
    pollSeconds: number;
    cacheDir: string;
  }>();

const server = new PredictorServer({
  name: options.modelName,
  location: options.model,
  cacheDir: options.cacheDir,
  port: options.port,
  maxBatchSize: options.maxBatchSize,
  maxBatchWaitMs: options.maxBatchWaitMs,
  maxQueue: options.maxQueue,
  pollSeconds: options.pollSeconds,
  // Without its model thread the server can answer nothing: exit, so that the pod restarts.
  onFailure: () => process.exit(1),
});
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    // Kubernetes sends SIGTERM and waits the grace period: every request already received is answered.
    void server.stop().then(() => process.exit(0));
  });
}
process.on('SIGHUP', () => void server.checkPointer());
await server.start();
console.log(`listening on :${server.address.port}`);
