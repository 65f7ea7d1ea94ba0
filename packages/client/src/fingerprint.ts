/**
 * A machine fingerprint for per-machine activations: a SHA-256 digest, so the identifiers it is made of
 * never leave the machine. It reads only:
 *   - os.hostname(), os.platform(), os.arch();
 *   - the OS machine id, when there is one: /etc/machine-id or /var/lib/dbus/machine-id (Linux),
 *     /etc/hostid (BSD), IOPlatformUUID from `ioreg -rd1 -c IOPlatformExpertDevice` (macOS),
 *     MachineGuid from `reg query HKLM\SOFTWARE\Microsoft\Cryptography` (Windows).
 * The digest is salted (by default with nothing; pass the product to get a different fingerprint per
 * product, so two sellers cannot link the same machine). Renaming the computer changes it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { arch, hostname, platform } from 'node:os';

const LINUX_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id', '/etc/hostid'];

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 5000, windowsHide: true }, (error, stdout) =>
      resolve(error ? '' : String(stdout)),
    );
  });
}

async function machineId(): Promise<string> {
  const os = platform();
  if (os === 'darwin') {
    const out = await run('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice']);
    return /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(out)?.[1] ?? '';
  }
  if (os === 'win32') {
    const out = await run('reg', [
      'query',
      'HKLM\\SOFTWARE\\Microsoft\\Cryptography',
      '/v',
      'MachineGuid',
      '/reg:64',
    ]);
    return /MachineGuid\s+REG_SZ\s+(\S+)/i.exec(out)?.[1] ?? '';
  }
  for (const file of LINUX_ID_FILES) {
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (id) return id;
    } catch {
      // Not on this system: try the next source.
    }
  }
  return '';
}

/** 64 hex characters, stable on this machine for the same salt. */
export async function machineFingerprint(options: { salt?: string } = {}): Promise<string> {
  const parts = [
    'cloudsecure-fingerprint/v1',
    options.salt ?? '',
    platform(),
    arch(),
    hostname(),
    await machineId(),
  ];
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}
