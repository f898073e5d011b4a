import { decodeImage } from '../trainer/data/decode-image.ts';
import type { ImagePreprocessing } from '../trainer/data/preprocessing.ts';
import type { Tokenizer } from '../trainer/data/tokenizer.ts';
import type { ServedInput } from './served-model.ts';

/**
 * A request the predictor cannot serve, and why: answered with `status` (a
 * 4xx) and `{"error": message}`, as the Open Inference Protocol says.
 */
export class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** One input tensor of an inference request (Open Inference Protocol / KServe V2, JSON). */
interface RequestInput {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
  parameters?: unknown;
}

/** What a request asks: the examples to classify, as the model's pixels 0-255 (`pixels`) or model-ready input (`ready`), and the top k. */
export interface ParsedRequest {
  id: string | undefined;
  /** HWC pixels 0-255 of the model's size, one per example: preprocessed as in training. */
  pixels: Float32Array[];
  /** Model-ready values (FP32, or a text's token ids), one per example: not preprocessed. */
  ready: Float32Array[];
  topK: number;
}

const DATATYPES = ['BYTES', 'UINT8', 'FP32'];

/**
 * Parses and checks an inference request. For an image classifier each input is one of: BYTES,
 * base64-encoded images (PNG, JPEG, WebP; any size: resized as in training); UINT8, pixels in the
 * model's input shape [N, H, W, C] (or [H, W, C]); FP32, model-ready values in that shape. For a text
 * classifier: BYTES, the texts (UTF-8 strings), tokenized as in training.
 */
export async function parseInferenceRequest(
  body: unknown,
  served: ServedInput,
  classes: number,
): Promise<ParsedRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError(400, 'the body must be a JSON object with "inputs"');
  const request = body as { id?: unknown; inputs?: unknown; parameters?: { top_k?: unknown } };
  if (!Array.isArray(request.inputs) || request.inputs.length === 0)
    throw new RequestError(400, '"inputs" must be a non-empty list of tensors');
  const topK = request.parameters?.top_k ?? Math.min(5, classes);
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > classes) {
    throw new RequestError(
      400,
      `parameters.top_k must be a whole number from 1 to ${classes}, got ${JSON.stringify(topK)}`,
    );
  }
  const parsed: ParsedRequest = {
    id: typeof request.id === 'string' ? request.id : undefined,
    pixels: [],
    ready: [],
    topK,
  };
  for (const [index, input] of (request.inputs as RequestInput[]).entries()) {
    const where = `inputs[${index}]${typeof input?.name === 'string' ? ` ("${input.name}")` : ''}`;
    if (typeof input !== 'object' || input === null) throw new RequestError(400, `${where} must be a tensor object`);
    if (served.kind === 'text') {
      parsed.ready.push(...texts(input, where, served.tokenizer));
      continue;
    }
    const p = served.preprocessing;
    if (typeof input.datatype !== 'string' || !DATATYPES.includes(input.datatype)) {
      throw new RequestError(
        400,
        `${where}: datatype ${JSON.stringify(input.datatype)} is not served: use BYTES (encoded images), UINT8 (pixels) or FP32 (model-ready values)`,
      );
    }
    const data = flatten(input.data, where);
    if (input.datatype === 'BYTES') {
      const images = Array.from(data, (item, i) => decodeEncoded(item, `${where}.data[${i}]`, p));
      parsed.pixels.push(...(await Promise.all(images)));
    } else {
      const examples = splitExamples(data, input.shape, where, p, input.datatype);
      (input.datatype === 'UINT8' ? parsed.pixels : parsed.ready).push(...examples);
    }
  }
  return parsed;
}

/** A text classifier's input: BYTES elements, each a text, tokenized with the model's own tokenizer. */
function texts(input: RequestInput, where: string, tokenizer: Tokenizer): Float32Array[] {
  if (input.datatype !== 'BYTES')
    throw new RequestError(
      400,
      `${where}: datatype ${JSON.stringify(input.datatype)} is not served: a text classifier takes BYTES (UTF-8 texts)`,
    );
  return Array.from(flatten(input.data, where), (item, i) => {
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : item;
    if (typeof text !== 'string') throw new RequestError(400, `${where}.data[${i}]: a BYTES element must be a string`);
    return Float32Array.from(tokenizer.encode(text));
  });
}

/** An input's values in row-major order: a JSON list (nested or flat), or the typed array of its binary data. */
function flatten(data: unknown, where: string): ArrayLike<unknown> & Iterable<unknown> {
  if (data instanceof Uint8Array || data instanceof Float32Array) {
    if (data.length === 0) throw new RequestError(400, `${where}: no binary data`);
    return data;
  }
  if (!Array.isArray(data) || data.length === 0)
    throw new RequestError(400, `${where}: "data" must be a non-empty list`);
  return data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data;
}

async function decodeEncoded(item: unknown, where: string, p: ImagePreprocessing): Promise<Float32Array> {
  if (typeof item !== 'string' && !Buffer.isBuffer(item))
    throw new RequestError(400, `${where}: a BYTES element must be a base64 string of an encoded image`);
  const bytes = Buffer.isBuffer(item) ? item : Buffer.from(item, 'base64');
  if (bytes.length === 0) throw new RequestError(400, `${where}: empty: expected a base64-encoded PNG or JPEG`);
  try {
    return Float32Array.from(await decodeImage(bytes, p.width, p.height, p.channels));
  } catch (err) {
    throw new RequestError(
      400,
      `${where}: not an image this server decodes (PNG, JPEG, WebP): ${(err as Error).message}`,
    );
  }
}

function splitExamples(
  data: ArrayLike<unknown> & Iterable<unknown>,
  shape: unknown,
  where: string,
  p: ImagePreprocessing,
  datatype: string,
): Float32Array[] {
  const expected = [p.height, p.width, p.channels];
  const dims =
    Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d > 0) ? (shape as number[]) : undefined;
  const batch = dims?.length === 4 ? dims[0]! : 1;
  const perExample = dims?.length === 4 ? dims.slice(1) : dims;
  if (!perExample || perExample.join() !== expected.join()) {
    throw new RequestError(
      400,
      `${where}: shape ${JSON.stringify(shape)} does not fit the model's input [N, ${expected.join(', ')}] (or [${expected.join(', ')}]); ` +
        'send any other size as an encoded image (BYTES), which is resized as in training',
    );
  }
  const size = expected.reduce((a, b) => a * b, 1);
  if (data.length !== batch * size)
    throw new RequestError(
      400,
      `${where}: ${data.length} values for shape ${JSON.stringify(shape)}, which holds ${batch * size}`,
    );
  const values =
    data instanceof Uint8Array ? Float32Array.from(data) : Float32Array.from(data, checked(where, datatype));
  return Array.from({ length: batch }, (_, i) => values.subarray(i * size, (i + 1) * size));
}

/** Each value as a number, checked against the datatype (a UINT8 binary input holds nothing else). */
function checked(where: string, datatype: string): (value: unknown, i: number) => number {
  return (value, i) => {
    const valid =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (datatype !== 'UINT8' || (Number.isInteger(value) && value >= 0 && value <= 255));
    if (!valid)
      throw new RequestError(
        400,
        `${where}.data[${i}]: ${JSON.stringify(value)} is not ${datatype === 'UINT8' ? 'a whole number from 0 to 255' : 'a finite number'}`,
      );
    return value as number;
  };
}

/**
 * A request in the binary tensor data extension (Triton's, which KServe's V2 servers also accept): the
 * JSON header's `headerLength` bytes, then the data of each input whose parameters.binary_data_size is
 * set, in input order. Such an input's data becomes a typed array (UINT8, FP32 little-endian) or, for
 * BYTES, its elements (each a 4-byte little-endian length, then the bytes).
 */
export function binaryRequest(body: Buffer, headerLength: number): unknown {
  if (!Number.isInteger(headerLength) || headerLength < 1 || headerLength > body.length)
    throw new RequestError(
      400,
      `Inference-Header-Content-Length is ${headerLength}, outside the body's ${body.length} bytes`,
    );
  let request: { inputs?: RequestInput[] };
  try {
    request = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as typeof request;
  } catch (err) {
    throw new RequestError(400, `the JSON header is not JSON: ${(err as Error).message}`);
  }
  let offset = headerLength;
  for (const [index, input] of (Array.isArray(request?.inputs) ? request.inputs : []).entries()) {
    const size = (input?.parameters as { binary_data_size?: unknown } | undefined)?.binary_data_size;
    if (size === undefined) continue;
    const where = `inputs[${index}]`;
    if (!Number.isInteger(size) || (size as number) < 0 || offset + (size as number) > body.length)
      throw new RequestError(
        400,
        `${where}: binary_data_size ${JSON.stringify(size)} does not fit the ${body.length - offset} bytes left in the body`,
      );
    const bytes = body.subarray(offset, offset + (size as number));
    offset += size as number;
    input.data = binaryData(bytes, input.datatype, where);
  }
  if (offset !== body.length)
    throw new RequestError(400, `${body.length - offset} bytes after the inputs' binary data: check binary_data_size`);
  return request;
}

function binaryData(bytes: Buffer, datatype: unknown, where: string): Uint8Array | Float32Array | Buffer[] {
  if (datatype === 'UINT8') return new Uint8Array(bytes);
  if (datatype === 'FP32') {
    if (bytes.length % 4)
      throw new RequestError(400, `${where}: ${bytes.length} bytes of FP32 data is not a whole number of values`);
    const values = new Float32Array(bytes.length / 4);
    for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(i * 4);
    return values;
  }
  if (datatype === 'BYTES') {
    const elements: Buffer[] = [];
    for (let at = 0; at < bytes.length;) {
      const length = at + 4 <= bytes.length ? bytes.readUInt32LE(at) : -1;
      if (length < 0 || at + 4 + length > bytes.length)
        throw new RequestError(400, `${where}: BYTES element ${elements.length} runs past its binary data`);
      elements.push(bytes.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    return elements;
  }
  throw new RequestError(400, `${where}: datatype ${JSON.stringify(datatype)} has no binary form served here`);
}

/** The response of an inference: each example's probabilities and its top k class names (Open Inference Protocol, JSON). */
export function inferenceResponse(
  model: { name: string; version: string },
  id: string | undefined,
  probabilities: Float32Array[],
  classNames: string[],
  topK: number,
) {
  const top = probabilities.map((row) =>
    [...row.keys()]
      .sort((a, b) => row[b]! - row[a]!)
      .slice(0, topK)
      .map((i) => classNames[i]!),
  );
  return {
    model_name: model.name,
    model_version: model.version,
    ...(id !== undefined ? { id } : {}),
    outputs: [
      {
        name: 'probabilities',
        datatype: 'FP32',
        shape: [probabilities.length, classNames.length],
        data: probabilities.flatMap((row) => [...row]),
      },
      { name: 'top_classes', datatype: 'BYTES', shape: [probabilities.length, topK], data: top.flat() },
    ],
  };
}
