/**
 * The few DER (ASN.1 distinguished encoding) building blocks an X.509 certificate needs. Node can
 * sign and parse certificates but not build them; this is all it takes, with no dependency.
 * https://www.itu.int/rec/T-REC-X.690 (DER), RFC 5280 (certificate profile).
 */

function tagged(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tagged(0x30, Buffer.concat(items));
export const set = (...items: Uint8Array[]): Buffer => tagged(0x31, Buffer.concat(items));
export const boolean = (value: boolean): Buffer => tagged(0x01, Buffer.from([value ? 0xff : 0x00]));
export const octetString = (content: Uint8Array): Buffer => tagged(0x04, content);
export const utf8String = (text: string): Buffer => tagged(0x0c, Buffer.from(text, 'utf8'));
/** `[n] EXPLICIT`: a constructed context tag around a complete element. */
export const explicit = (n: number, content: Uint8Array): Buffer => tagged(0xa0 | n, content);
/** `[n] IMPLICIT` of a primitive type: the context tag replaces the type's own. */
export const implicit = (n: number, content: Uint8Array): Buffer => tagged(0x80 | n, content);

/** A BIT STRING whose content is whole bytes (keys, signatures). */
export const bitString = (content: Uint8Array, unusedBits = 0): Buffer =>
  tagged(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));

/** A non-negative INTEGER from big-endian bytes. */
export function integer(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = bytes.subarray(start);
  const needsPad = (trimmed[0] ?? 0) >= 0x80;
  return tagged(0x02, needsPad ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function smallInteger(value: number): Buffer {
  return integer(Buffer.from([value]));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = parts;
  const bytes = [40 * first + second];
  for (const part of rest) {
    const base128: number[] = [part & 0x7f];
    for (let value = Math.floor(part / 128); value > 0; value = Math.floor(value / 128)) {
      base128.unshift((value & 0x7f) | 0x80);
    }
    bytes.push(...base128);
  }
  return tagged(0x06, Buffer.from(bytes));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? tagged(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : tagged(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}
