/**
 * A throttled CloudWatch Logs API: an HTTP proxy in front of moto that answers some
 * CloudWatch Logs control-plane requests the way the service does when an account exceeds
 * its per-API quota (HTTP 400, `ThrottlingException`, "Rate exceeded"), or a concurrent change
 * (`OperationAbortedException`), and passes everything else through unchanged. The member
 * functions' clients go through it in the fault scenario, so the SDK parses a real error
 * response and the project's retry policy and rate limiter do the rest.
 *
 * Bounded: a request is identified by its caller's access key (the account), the operation
 * and its log group, filter name and page token. Of each operation's distinct requests, every
 * 3rd is refused on its first attempt, every 7th on its first two, and every 5th
 * PutSubscriptionFilter is aborted once; a later attempt always passes. Which requests are
 * refused depends on the order they arrive in, but none is refused more than twice, so the
 * retry path is exercised on every run and no run can exhaust the retries (8 attempts,
 * docs/member.md).
 * Error shape: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ThrottleProxy {
  readonly endpoint: string;
  readonly stats: { requests: number; throttled: number; aborted: number };
  stop(): Promise<void>;
}

const LOGS_TARGET_PREFIX = 'Logs_20140328.';

function refusals(operation: string, ordinal: number): { attempts: number; error: string } {
  if (operation === 'PutSubscriptionFilter' && ordinal % 5 === 0)
    return { attempts: 1, error: 'OperationAbortedException' };
  if (ordinal % 7 === 0) return { attempts: 2, error: 'ThrottlingException' };
  if (ordinal % 3 === 0) return { attempts: 1, error: 'ThrottlingException' };
  return { attempts: 0, error: '' };
}

export async function startThrottleProxy(target: string): Promise<ThrottleProxy> {
  const upstream = new URL(target);
  const ordinals = new Map<string, number>();
  const keys = new Map<string, { ordinal: number; attempts: number }>();
  const stats = { requests: 0, throttled: 0, aborted: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stats.requests += 1;
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      if (amzTarget.startsWith(LOGS_TARGET_PREFIX)) {
        const operation = amzTarget.slice(LOGS_TARGET_PREFIX.length);
        let input: Record<string, unknown> = {};
        try {
          input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
        } catch {
          // not JSON: pass it through, moto answers
        }
        const accessKey = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
        const key = [accessKey, operation, input.logGroupName, input.filterName, input.nextToken].join('|');
        let seen = keys.get(key);
        if (!seen) {
          const ordinal = (ordinals.get(operation) ?? 0) + 1;
          ordinals.set(operation, ordinal);
          seen = { ordinal, attempts: 0 };
          keys.set(key, seen);
        }
        seen.attempts += 1;
        const refuse = refusals(operation, seen.ordinal);
        if (seen.attempts <= refuse.attempts) {
          if (refuse.error === 'ThrottlingException') stats.throttled += 1;
          else stats.aborted += 1;
          const message =
            refuse.error === 'ThrottlingException'
              ? 'Rate exceeded'
              : 'Multiple users are attempting to modify this resource. Please try again.';
          res.writeHead(400, {
            'content-type': 'application/x-amz-json-1.1',
            'x-amzn-errortype': `${refuse.error}:`,
          });
          res.end(JSON.stringify({ __type: refuse.error, message }));
          return;
        }
      }
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502).end(`proxy: ${err.message}`);
      });
      forward.end(body);
    });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
