/**
 * Text chunks of a PNG file (PNG specification, 3rd edition, §5.3 chunk layout and §11.3.3 textual information):
 * the engine writes what made an image into an iTXt chunk and reads it back.
 *
 * A PNG is its 8-byte signature and then chunks, each `length (4 bytes, big-endian, of the data) | type (4 ASCII
 * letters) | data | CRC-32 of type + data`. An iTXt chunk's data is `keyword \0 compression-flag compression-method
 * language-tag \0 translated-keyword \0 text`, the text UTF-8 (zlib-compressed when the flag is 1); tEXt is
 * `keyword \0 Latin-1 text`, zTXt `keyword \0 method zlib(Latin-1 text)`.
 *
 * Written by hand rather than with a library: sharp (libvips) has no way to write a text chunk of our own, and the
 * npm packages that split PNG chunks (png-chunks-extract/-encode) have seen no release since 2016; the layout is
 * twenty lines and the CRC is Node's own zlib.crc32. The tests check it against pngjs's decoder and sharp's.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The largest text the reader inflates (a provenance record is a few hundred bytes). */
const MAX_TEXT_BYTES = 1 << 20;

export interface PngChunk {
  type: string;
  data: Buffer;
}

/** The chunks of a PNG, in file order; throws on a truncated file or a chunk whose CRC does not match. */
export function pngChunks(png: Uint8Array): PngChunk[] {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < SIGNATURE.length || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file (no PNG signature)');
  const chunks: PngChunk[] = [];
  let at = SIGNATURE.length;
  while (at < buf.length) {
    if (at + 12 > buf.length) throw new Error(`PNG file is truncated at byte ${at}`);
    const length = buf.readUInt32BE(at);
    const end = at + 12 + length;
    if (end > buf.length) throw new Error(`PNG chunk at byte ${at} runs past the end of the file`);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    if ((crc32(buf.subarray(at + 4, at + 8 + length)) >>> 0) !== buf.readUInt32BE(at + 8 + length)) {
      throw new Error(`PNG chunk ${type} at byte ${at} has a bad CRC`);
    }
    chunks.push({ type, data });
    at = end;
    if (type === 'IEND') break;
  }
  if (chunks[0]?.type !== 'IHDR') throw new Error('PNG file does not start with IHDR');
  return chunks;
}

/** One chunk as bytes: length, type, data, CRC-32(type + data). */
export function encodeChunk(type: string, data: Uint8Array): Buffer {
  if (!/^[A-Za-z]{4}$/.test(type)) throw new Error(`PNG chunk type must be 4 letters, got ${JSON.stringify(type)}`);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** Keywords are 1–79 printable Latin-1 characters without leading, trailing or double spaces (§11.3.3.1). */
function checkKeyword(keyword: string): void {
  if (!/^[\x21-\x7e\xa1-\xff](?:[\x21-\x7e\xa1-\xff]| (?! ))*$/.test(keyword) || keyword.length > 79 || keyword.endsWith(' ')) {
    throw new Error(`PNG text keyword must be 1-79 printable Latin-1 characters, got ${JSON.stringify(keyword)}`);
  }
}

/** The data of an iTXt chunk: uncompressed UTF-8 text, no language tag. */
export function iTXtData(keyword: string, text: string, compress = false): Buffer {
  checkKeyword(keyword);
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([
    Buffer.from(keyword, 'latin1'),
    Buffer.from([0, compress ? 1 : 0, 0, 0, 0]), // \0, flag, method 0 (zlib), empty language tag \0, empty translated keyword \0
    compress ? deflateSync(body) : body,
  ]);
}

/**
 * The PNG with an iTXt chunk `keyword` = `text` right after IHDR (where readers that stop early still see it);
 * any text chunk with the same keyword is replaced.
 */
export function withTextChunk(png: Uint8Array, keyword: string, text: string): Buffer {
  const chunks = pngChunks(png).filter((c) => !(isText(c.type) && textOf(c)?.keyword === keyword));
  const out = [SIGNATURE, encodeChunk(chunks[0].type, chunks[0].data), encodeChunk('iTXt', iTXtData(keyword, text))];
  for (const c of chunks.slice(1)) out.push(encodeChunk(c.type, c.data));
  return Buffer.concat(out);
}

const isText = (type: string): boolean => type === 'iTXt' || type === 'tEXt' || type === 'zTXt';

function inflateText(data: Buffer): Buffer {
  return inflateSync(data, { maxOutputLength: MAX_TEXT_BYTES });
}

/** The keyword and text of a tEXt, zTXt or iTXt chunk, or undefined when it is malformed. */
function textOf(chunk: PngChunk): { keyword: string; text: string } | undefined {
  const d = chunk.data;
  const nul = d.indexOf(0);
  if (nul < 1) return undefined;
  const keyword = d.toString('latin1', 0, nul);
  try {
    if (chunk.type === 'tEXt') return { keyword, text: d.toString('latin1', nul + 1) };
    if (chunk.type === 'zTXt') return { keyword, text: inflateText(d.subarray(nul + 2)).toString('latin1') };
    const flag = d[nul + 1];
    const lang = d.indexOf(0, nul + 3);
    const translated = lang < 0 ? -1 : d.indexOf(0, lang + 1);
    if (translated < 0) return undefined;
    const body = d.subarray(translated + 1);
    return { keyword, text: (flag === 1 ? inflateText(body) : body).toString('utf8') };
  } catch {
    return undefined;
  }
}

/** Every text chunk of a PNG as keyword → text (the first of a keyword wins). */
export function readTextChunks(png: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of pngChunks(png)) {
    if (!isText(c.type)) continue;
    const t = textOf(c);
    if (t && !out.has(t.keyword)) out.set(t.keyword, t.text);
  }
  return out;
}
