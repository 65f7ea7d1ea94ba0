import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import { createS3Presigner } from './s3-presigner.ts';

const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const signingDate = new Date('2024-01-01T00:00:00Z');

async function sdkURL(
  endpoint: string,
  forcePathStyle: boolean,
  bucket: string,
  key: string,
): Promise<string> {
  const client = new S3Client({
    region: 'auto',
    endpoint,
    forcePathStyle,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const command = new GetObjectCommand({
    Bucket: bucket,
    Key: key,
    ResponseContentDisposition: `attachment; filename="e book's (1).pdf"; filename*=UTF-8''%C3%A9%20book.pdf`,
    ResponseContentType: 'application/pdf',
  });
  return getSignedUrl(client, command, { expiresIn: 300, signingDate });
}

describe('createS3Presigner', () => {
  it.each([
    [
      'R2, virtual-hosted',
      'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
      false,
      'my-bucket',
    ],
    [
      'R2, path style',
      'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
      true,
      'my-bucket',
    ],
    ['an IP endpoint with a port', 'http://127.0.0.1:4569', false, 'bucket'],
  ])('signs exactly the URL the AWS SDK signs (%s)', async (_name, endpoint, forcePathStyle, bucket) => {
    const key = 'f/0192f0a0-1234-7abc-8def-0123456789ab';
    const ours = await createS3Presigner({
      endpoint,
      bucket,
      region: 'auto',
      forcePathStyle,
      ...credentials,
    })({
      key,
      expiresInSeconds: 300,
      contentDisposition: `attachment; filename="e book's (1).pdf"; filename*=UTF-8''%C3%A9%20book.pdf`,
      contentType: 'application/pdf',
      signingDate,
    });
    expect(ours).toBe(await sdkURL(endpoint, forcePathStyle, bucket, key));
  });

  it('reproduces the R2 test vector from the delivery contract', async () => {
    const url = await createS3Presigner({
      endpoint: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
      bucket: 'my-bucket',
      region: 'auto',
      forcePathStyle: false,
      ...credentials,
    })({
      key: 'products/ebook.pdf',
      expiresInSeconds: 900,
      contentDisposition: 'attachment; filename="ebook.pdf"',
      contentType: 'application/pdf',
      signingDate,
    });
    const params = new URL(url).searchParams;
    expect(params.get('X-Amz-Credential')).toBe('AKIAIOSFODNN7EXAMPLE/20240101/auto/s3/aws4_request');
    expect(params.get('X-Amz-Expires')).toBe('900');
    expect(params.has('x-amz-checksum-mode')).toBe(false);
    expect(
      url.startsWith(
        'https://my-bucket.0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/products/ebook.pdf?',
      ),
    ).toBe(true);
  });
});
