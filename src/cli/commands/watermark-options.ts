import { type Command, InvalidArgumentError } from 'commander';
import type { WatermarkPosition, WatermarkSettings } from '../../domain/watermark/watermark.ts';

export interface WatermarkOptions {
  watermark?: 'on' | 'off';
  watermarkText?: string;
  watermarkPosition?: WatermarkPosition;
  watermarkOpacity?: number;
  watermarkSize?: number;
}

function onOff(value: string): 'on' | 'off' {
  if (value !== 'on' && value !== 'off') throw new InvalidArgumentError('on or off');
  return value;
}

function position(value: string): WatermarkPosition {
  if (value !== 'footer' && value !== 'header' && value !== 'diagonal') {
    throw new InvalidArgumentError('footer, header or diagonal');
  }
  return value;
}

function decimal(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('expected a number');
  return Number(value);
}

/** The product options that shape per-buyer watermarks, shared by `product create` and `product update`. */
export function addWatermarkOptions(command: Command): Command {
  return command
    .option('--watermark <on|off>', 'stamp every PDF, EPUB and ZIP with its buyer', onOff)
    .option('--watermark-text <template>', 'the visible line: {name}, {email}, {order}, {date}')
    .option('--watermark-position <where>', 'footer (default), header or diagonal', position)
    .option('--watermark-opacity <0..1>', 'opacity of the visible line (default 0.6)', decimal)
    .option('--watermark-size <pt>', 'font size of the visible line (default 8)', decimal);
}

/** undefined: no change; false: off; settings: on, with these changes. */
export function watermarkFromOptions(opts: WatermarkOptions): Partial<WatermarkSettings> | false | undefined {
  if (opts.watermark === 'off') return false;
  const changes: Partial<WatermarkSettings> = {
    ...(opts.watermarkText === undefined ? {} : { text: opts.watermarkText }),
    ...(opts.watermarkPosition === undefined ? {} : { position: opts.watermarkPosition }),
    ...(opts.watermarkOpacity === undefined ? {} : { opacity: opts.watermarkOpacity }),
    ...(opts.watermarkSize === undefined ? {} : { sizePt: opts.watermarkSize }),
  };
  if (opts.watermark === 'on' || Object.keys(changes).length > 0) return changes;
  return undefined;
}
