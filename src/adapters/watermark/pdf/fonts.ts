import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { embeddedFont, missingChars, parseFont } from './embedded-font.ts';
import { helvetica, isWinAnsi } from './standard-font.ts';
import type { TextFont } from './text-font.ts';

/**
 * Picks the font for a watermark line: Helvetica (no embedding) when the text is WinAnsi, otherwise an
 * embedded subset of the first bundled font that has a glyph for every character, or — when none covers
 * everything — of the one that covers the most characters (the rest show as .notdef; `fontCoverage` reports
 * them at upload time).
 */

interface BundledFont {
  /** Name reported by `fontCoverage`. */
  name: string;
  /** npm package that ships the file. */
  pkg: string;
  /** Path of the TrueType file inside the package. */
  file: string;
}

/** In order of preference. Packages that are not installed are skipped. */
const BUNDLED: readonly BundledFont[] = [
  // Latin, Greek, Cyrillic, Armenian, Georgian, Arabic, Hebrew, … (no CJK).
  { name: 'DejaVuSans', pkg: 'dejavu-fonts-ttf', file: 'ttf/DejaVuSans.ttf' },
  // Chinese (simplified and most traditional), Japanese kana, Latin, Greek, Cyrillic (no Hangul, no Arabic).
  {
    name: 'NotoSansSC',
    pkg: '@expo-google-fonts/noto-sans-sc',
    file: '400Regular/NotoSansSC_400Regular.ttf',
  },
];

const require = createRequire(import.meta.url);

/** Loaded font files (undefined: package not installed); each file is read once per process. */
const loaded = new Map<string, Buffer | undefined>();

function load(font: BundledFont): Buffer | undefined {
  if (loaded.has(font.name)) return loaded.get(font.name);
  let bytes: Buffer | undefined;
  try {
    const pkgDir = dirname(require.resolve(`${font.pkg}/package.json`));
    bytes = readFileSync(join(pkgDir, font.file));
  } catch {
    bytes = undefined;
  }
  loaded.set(font.name, bytes);
  return bytes;
}

/** The bundled fonts installed here, in order of preference. */
export function availableFonts(): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const font of BUNDLED) {
    const bytes = load(font);
    if (bytes) out.push({ name: font.name, bytes });
  }
  return out;
}

interface Choice {
  name: string;
  bytes?: Buffer;
  missing: string[];
}

function choose(text: string): Choice {
  if (isWinAnsi(text)) return { name: 'Helvetica', missing: [] };
  let best: Choice | undefined;
  // Fonts are loaded lazily: the CJK file is only read when DejaVu does not cover the text.
  for (const candidate of BUNDLED) {
    const bytes = load(candidate);
    if (!bytes) continue;
    const name = candidate.name;
    const missing = missingChars(parseFont(bytes), text);
    if (missing.length === 0) return { name, bytes, missing };
    if (!best || missing.length < best.missing.length) best = { name, bytes, missing };
  }
  // No bundled font installed at all: Helvetica, with '?' for what WinAnsi lacks.
  return (
    best ?? { name: 'Helvetica', missing: [...new Set(Array.from(text).filter((ch) => !isWinAnsi(ch)))] }
  );
}

/** Recently built fonts by text (a buyer downloading several files, or again): building costs 2–40 ms. */
const recent = new Map<string, TextFont>();
const RECENT_MAX = 64;

/**
 * The font to stamp `text` with (same text → identical objects). The result may be shared with other callers:
 * treat its objects and buffers as read-only.
 */
export function fontFor(text: string): TextFont {
  const cached = recent.get(text);
  if (cached) {
    recent.delete(text);
    recent.set(text, cached);
    return cached;
  }
  const choice = choose(text);
  const font = choice.bytes ? embeddedFont(text, choice.bytes) : helvetica();
  recent.set(text, font);
  if (recent.size > RECENT_MAX) {
    const oldest = recent.keys().next().value;
    if (oldest !== undefined) recent.delete(oldest);
  }
  return font;
}

/**
 * Loads and parses the bundled fonts and runs one layout per script family, so that the first watermarked
 * download does not pay the ~200 ms of table parsing and layout-engine setup. Call once at server start.
 */
export function warmUpFonts(): void {
  for (const sample of ['Aя Ωω محمد שלום', '王あ']) fontFor(sample);
}

/** Which font `fontFor(text)` uses and the characters it has no glyph for (for the upload-time check). */
export function fontCoverage(text: string): { font: string; missing: string[] } {
  const { name, missing } = choose(text);
  return { font: name, missing };
}
