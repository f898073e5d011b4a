import sharp from 'sharp';

/**
 * An encoded image (a file's path, or its bytes as a predictor receives them)
 * as HWC pixels 0-255 of the model's size: decoded and resized (stretched, as
 * training does) by sharp (libvips) on libuv's thread pool, alpha dropped,
 * grey or sRGB for the model's channels. Training and serving both call this,
 * so a served image is what a trained one was. Throws on a file or bytes
 * that do not decode.
 */
export async function decodeImage(
  input: string | Buffer,
  width: number,
  height: number,
  channels: number,
): Promise<Uint8Array> {
  let image = sharp(input, { failOn: 'error' }).resize(width, height, { fit: 'fill' }).removeAlpha();
  image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, expected ${channels}`);
  return data;
}
