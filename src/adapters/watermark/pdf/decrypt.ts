import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { PdfError } from './errors.ts';
import { dictGet, nameOf, numberOf, type PdfDict, type PdfObject } from './syntax.ts';

/**
 * Decryption of PDFs protected by the Standard security handler, opened with the EMPTY user password
 * (owner-password-only files: anyone may open them, the owner password only restricts printing etc.).
 * ISO 32000-1 §7.6 and ISO 32000-2 §7.6.4: V1/V2 RC4 (R2, R3, 40–128 bit), V4 crypt filters with /V2
 * (RC4) or /AESV2 (AES-128-CBC), V5 R5/R6 /AESV3 (AES-256-CBC). Used once at upload by normalize.ts; the
 * product never writes encrypted files. Files that need a real user password are refused (ENCRYPTED).
 */

/** Decrypts the strings and streams of one document. */
export interface PdfDecryptor {
  /** Security handler revision (2, 3, 4, 5 or 6), for reports. */
  readonly revision: number;
  /** Decrypts a string found in indirect object num/gen (never call it for the /Encrypt dictionary). */
  decryptString(data: Buffer, num: number, gen: number): Buffer;
  /**
   * How to decrypt the data of stream num/gen, or null when it is stored in clear (Identity crypt filter,
   * xref streams, metadata with /EncryptMetadata false).
   */
  streamDecipher(dict: PdfDict, num: number, gen: number): StreamDecipher | null;
}

/** Decrypts one stream's data, possibly in chunks (large image streams are never held whole). */
export interface StreamDecipher {
  /** The encrypted bytes [tailStart(length), length) that plainLength needs (AES: the last two blocks). */
  tailStart(length: number): number;
  /** Length of the plain data for `length` encrypted bytes whose last bytes are `tail`. */
  plainLength(length: number, tail: Buffer): number;
  /** A fresh decrypting function: feed the encrypted bytes in order; the outputs concatenated, cut at plainLength, are the plain data. */
  begin(): (chunk: Buffer) => Buffer;
  /** Decrypts a whole (small) stream. */
  decrypt(data: Buffer): Buffer;
}

/** The 32-byte padding string of Algorithm 2, step (a). */
const PADDING = Buffer.from('28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a', 'hex');

type Method = 'none' | 'rc4' | 'aes128' | 'aes256';

/** RC4 (ARCFOUR) as a stateful transform; OpenSSL 3 no longer offers it by default, and it is tiny. */
export function rc4(key: Buffer): (chunk: Buffer) => Buffer {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  let i = 0;
  let j = 0;
  return (chunk) => {
    const out = Buffer.allocUnsafe(chunk.length);
    for (let k = 0; k < chunk.length; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
      out[k] = chunk[k]! ^ s[(s[i]! + t) & 0xff]!;
    }
    return out;
  };
}

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const part of parts) h.update(part);
  return h.digest();
}

function aesCbcNoPad(key: Buffer, iv: Buffer, data: Buffer, encrypt: boolean): Buffer {
  const algorithm = key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc';
  const c = encrypt ? createCipheriv(algorithm, key, iv) : createDecipheriv(algorithm, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Strips PKCS#7 padding when it is well-formed; readers keep the bytes otherwise. */
function padLength(lastBlock: Buffer): number {
  const pad = lastBlock[lastBlock.length - 1]!;
  if (pad < 1 || pad > 16 || pad > lastBlock.length) return 0;
  for (let i = lastBlock.length - pad; i < lastBlock.length; i++) if (lastBlock[i] !== pad) return 0;
  return pad;
}

/** AES-CBC with the IV in the first 16 bytes, as PDF stores strings and streams (Algorithm 1, step (e)). */
function aesDecrypt(key: Buffer, data: Buffer): Buffer {
  const blocks = Math.floor((data.length - 16) / 16);
  if (blocks <= 0) return Buffer.alloc(0);
  const plain = aesCbcNoPad(key, data.subarray(0, 16), data.subarray(16, 16 + blocks * 16), false);
  return plain.subarray(0, plain.length - padLength(plain.subarray(plain.length - 16)));
}

function stringOf(obj: PdfObject | undefined, what: string): Buffer {
  if (obj?.type !== 'string') throw new PdfError('BROKEN', `the encryption dictionary has no ${what} string`);
  return obj.value;
}

/** Algorithm 2.B (ISO 32000-2): the hash for R6 passwords. */
function hash2B(password: Buffer, salt: Buffer, userKey: Buffer): Buffer {
  let k: Buffer = createHash('sha256').update(password).update(salt).update(userKey).digest();
  let e: Buffer = Buffer.alloc(0);
  for (let round = 0; round < 64 || e[e.length - 1]! > round - 32; round++) {
    if (round > 2048) throw new PdfError('BROKEN', 'R6 password hash does not terminate');
    const k1 = Buffer.concat(Array(64).fill(Buffer.concat([password, k, userKey])) as Buffer[]);
    e = aesCbcNoPad(k.subarray(0, 16), k.subarray(16, 32), k1, true);
    let sum = 0;
    for (let i = 0; i < 16; i++) sum += e[i]!;
    k = createHash(['sha256', 'sha384', 'sha512'][sum % 3]!)
      .update(e)
      .digest();
  }
  return k.subarray(0, 32);
}

/** Algorithms 2 and 6 (R2–R4): the file key from the empty user password, or null when it is not empty. */
function legacyFileKey(
  revision: number,
  length: number,
  encrypt: PdfDict,
  id0: Buffer,
  encryptMetadata: boolean,
): Buffer | null {
  const o = stringOf(encrypt.entries.get('O'), '/O');
  const u = stringOf(encrypt.entries.get('U'), '/U');
  const p = numberOf(encrypt.entries.get('P'));
  if (p === undefined) throw new PdfError('BROKEN', 'the encryption dictionary has no /P');
  if (o.length < 32 || u.length < 32) throw new PdfError('BROKEN', 'the /O or /U string is too short');
  const pBytes = Buffer.alloc(4);
  pBytes.writeInt32LE(p | 0);
  const parts = [PADDING, o.subarray(0, 32), pBytes, id0];
  if (revision >= 4 && !encryptMetadata) parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  let hash = md5(...parts);
  if (revision >= 3) for (let i = 0; i < 50; i++) hash = md5(hash.subarray(0, length));
  const key = Buffer.from(hash.subarray(0, length));
  if (revision === 2) {
    // Algorithm 4: /U is the padding string encrypted with the key.
    return rc4(key)(PADDING).equals(u.subarray(0, 32)) ? key : null;
  }
  // Algorithm 5: MD5(padding + ID[0]) through 20 RC4 passes with key XOR i; compare 16 bytes.
  let check = rc4(key)(md5(PADDING, id0));
  for (let i = 1; i <= 19; i++) check = rc4(Buffer.from(key.map((b) => b ^ i)))(check);
  return check.equals(u.subarray(0, 16)) ? key : null;
}

/** Algorithm 2.A (R5, R6): the file key from the empty user password, or null when it is not empty. */
function aes256FileKey(revision: number, encrypt: PdfDict): Buffer | null {
  const u = stringOf(encrypt.entries.get('U'), '/U');
  const ue = stringOf(encrypt.entries.get('UE'), '/UE');
  if (u.length < 48 || ue.length < 32) throw new PdfError('BROKEN', 'the /U or /UE string is too short');
  const password = Buffer.alloc(0);
  const hash = (salt: Buffer): Buffer =>
    revision === 6 ? hash2B(password, salt, Buffer.alloc(0)) : createHash('sha256').update(salt).digest();
  if (!hash(u.subarray(32, 40)).equals(u.subarray(0, 32))) return null;
  return aesCbcNoPad(hash(u.subarray(40, 48)), Buffer.alloc(16), ue.subarray(0, 32), false);
}

function cryptFilterMethod(encrypt: PdfDict, name: string, version: number): Method {
  if (name === 'Identity') return 'none';
  const filter = dictGet(encrypt.entries.get('CF'), name);
  if (filter === undefined) throw new PdfError('UNSUPPORTED', `crypt filter /${name} is not defined`);
  if (filter.type !== 'dict')
    throw new PdfError('UNSUPPORTED', `crypt filter /${name} is not a direct dictionary`);
  const cfm = nameOf(filter.entries.get('CFM')) ?? 'None';
  if (cfm === 'None') return 'none';
  if (cfm === 'V2' && version === 4) return 'rc4';
  if (cfm === 'AESV2' && version === 4) return 'aes128';
  if (cfm === 'AESV3' && version === 5) return 'aes256';
  throw new PdfError('UNSUPPORTED', `crypt filter method /${cfm} with /V ${version} is not supported`);
}

/**
 * Opens a document's /Encrypt dictionary (resolved, direct /CF) with the empty user password. `id0` is
 * the first string of the trailer /ID (it enters the key for R2–R4). Throws ENCRYPTED when a user
 * password is needed, UNSUPPORTED for other security handlers or crypt filter methods.
 */
export function openStandardEncryption(encrypt: PdfDict, id0: Buffer | undefined): PdfDecryptor {
  const handler = nameOf(encrypt.entries.get('Filter'));
  if (handler !== 'Standard') {
    throw new PdfError(
      'UNSUPPORTED',
      `the PDF uses the /${handler ?? '?'} security handler (only /Standard is supported)`,
    );
  }
  const version = numberOf(encrypt.entries.get('V')) ?? 0;
  const revision = numberOf(encrypt.entries.get('R')) ?? 0;
  const flag = encrypt.entries.get('EncryptMetadata');
  const encryptMetadata = flag?.type === 'boolean' ? flag.value : true;
  const id = id0 ?? Buffer.alloc(0);
  /** /StmF, /StrF and /EFF (default: /StmF) of V4/V5 crypt filters; Identity when absent. */
  const namedFilters = (): [Method, Method, Method] => {
    const method = (key: string) =>
      cryptFilterMethod(encrypt, nameOf(encrypt.entries.get(key)) ?? 'Identity', version);
    const stm = method('StmF');
    return [stm, method('StrF'), encrypt.entries.has('EFF') ? method('EFF') : stm];
  };
  let stmf: Method;
  let strf: Method;
  let eff: Method;
  let fileKey: Buffer | null;
  if ((version === 1 || version === 2) && (revision === 2 || revision === 3)) {
    // Algorithm 2, step (i): revision 2 always uses a 40-bit key.
    const bits = version === 1 || revision === 2 ? 40 : (numberOf(encrypt.entries.get('Length')) ?? 40);
    if (bits % 8 !== 0 || bits < 40 || bits > 128) throw new PdfError('BROKEN', `bad key /Length ${bits}`);
    fileKey = legacyFileKey(revision, bits / 8, encrypt, id, true);
    stmf = strf = eff = 'rc4';
  } else if (version === 4 && revision === 4) {
    [stmf, strf, eff] = namedFilters();
    const bits = numberOf(encrypt.entries.get('Length')) ?? 128;
    const aes = [stmf, strf, eff].includes('aes128');
    const length = !aes && bits % 8 === 0 && bits >= 40 && bits <= 128 ? bits / 8 : 16;
    fileKey = legacyFileKey(revision, length, encrypt, id, encryptMetadata);
  } else if (version === 5 && (revision === 5 || revision === 6)) {
    [stmf, strf, eff] = namedFilters();
    fileKey = aes256FileKey(revision, encrypt);
  } else {
    throw new PdfError(
      'UNSUPPORTED',
      `standard security handler /V ${version} /R ${revision} is not supported`,
    );
  }
  if (!fileKey) {
    throw new PdfError(
      'ENCRYPTED',
      'the PDF needs a password to open (a user password); upload an unprotected copy',
    );
  }
  const key = fileKey;

  const objectKey = (method: Method, num: number, gen: number): Buffer => {
    if (method === 'aes256') return key;
    // Algorithm 1: MD5(file key, low 3 bytes of num, low 2 bytes of gen[, "sAlT"]), n + 5 bytes (≤ 16).
    const extra = Buffer.from([
      num & 0xff,
      (num >> 8) & 0xff,
      (num >> 16) & 0xff,
      gen & 0xff,
      (gen >> 8) & 0xff,
    ]);
    const salt = method === 'aes128' ? Buffer.from('sAlT', 'latin1') : Buffer.alloc(0);
    return md5(key, extra, salt).subarray(0, Math.min(key.length + 5, 16));
  };

  const decipherFor = (method: Method, num: number, gen: number): StreamDecipher | null => {
    if (method === 'none') return null;
    const k = objectKey(method, num, gen);
    if (method === 'rc4') {
      return {
        tailStart: (length) => length,
        plainLength: (length) => length,
        begin: () => rc4(k),
        decrypt: (data) => rc4(k)(data),
      };
    }
    // Only whole blocks after the 16-byte IV count; a ragged end (damaged file) is ignored, as readers do.
    const blocksOf = (length: number): number => Math.max(0, Math.floor((length - 16) / 16));
    const tailStart = (length: number): number => Math.max(0, 16 + blocksOf(length) * 16 - 32);
    return {
      tailStart,
      plainLength(length, tail) {
        const blocks = blocksOf(length);
        const at = 16 + blocks * 16 - 32 - tailStart(length);
        if (blocks === 0 || tail.length < at + 32) return 0;
        // CBC: the last block decrypts with the one before it as IV, which shows the padding length.
        const last = aesCbcNoPad(k, tail.subarray(at, at + 16), tail.subarray(at + 16, at + 32), false);
        return blocks * 16 - padLength(last);
      },
      begin() {
        let iv = Buffer.alloc(0);
        let decipher: ReturnType<typeof createDecipheriv> | undefined;
        return (chunk) => {
          if (!decipher) {
            const need = 16 - iv.length;
            iv = Buffer.concat([iv, chunk.subarray(0, need)]);
            chunk = chunk.subarray(need);
            if (iv.length < 16) return Buffer.alloc(0);
            decipher = createDecipheriv(k.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', k, iv);
            decipher.setAutoPadding(false);
          }
          return decipher.update(chunk);
        };
      },
      decrypt: (data) => aesDecrypt(k, data),
    };
  };

  return {
    revision,
    decryptString(data, num, gen) {
      const d = decipherFor(strf, num, gen);
      return d ? d.decrypt(data) : data;
    },
    streamDecipher(dict, num, gen) {
      const type = nameOf(dict.entries.get('Type'));
      if (type === 'XRef') return null;
      const filters = dict.entries.get('Filter');
      const first = filters?.type === 'array' ? filters.items[0] : filters;
      if (nameOf(first) === 'Crypt') {
        // A stream-specific crypt filter (§7.4.10): /DecodeParms << /Name /X >>, default Identity.
        const parms = dict.entries.get('DecodeParms');
        const parm = parms?.type === 'array' ? parms.items[0] : parms;
        const name = nameOf(dictGet(parm, 'Name')) ?? 'Identity';
        return decipherFor(cryptFilterMethod(encrypt, name, version), num, gen);
      }
      if (type === 'Metadata' && !encryptMetadata) return null;
      return decipherFor(type === 'EmbeddedFile' ? eff : stmf, num, gen);
    },
  };
}
