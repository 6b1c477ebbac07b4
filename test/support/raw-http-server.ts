/**
 * A loopback TCP server that answers HTTP requests with whatever bytes a test gives it, for
 * testing HTTP clients against broken or hostile peers: malformed responses, connections
 * closed at the wrong moment, bytes nobody asked for. It reads each request whole (head and
 * Content-Length body) and hands it to `answer`, which writes, ends or destroys the socket.
 * Nothing here depends on timing.
 */
import net from 'node:net';

export interface RawRequest {
  /** 1-based over the server's life. */
  readonly n: number;
  /** 1-based index of the connection it came on, and of the request on that connection. */
  readonly connection: number;
  readonly onConnection: number;
  readonly head: string;
  readonly body: Buffer;
}

export type RawAnswer = (request: RawRequest, socket: net.Socket) => void;

export interface RawServer {
  readonly url: string;
  /** Connections accepted so far. */
  connections(): number;
  readonly requests: RawRequest[];
  setAnswer(answer: RawAnswer): void;
  stop(): Promise<void>;
}

/** Writes `bytes` and keeps the connection open. */
export const respond =
  (bytes: string | Buffer): RawAnswer =>
  (_request, socket) => {
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };

/** Writes `bytes` and closes the connection (FIN) after them. */
export const respondAndEnd =
  (bytes: string | Buffer): RawAnswer =>
  (_request, socket) => {
    socket.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };

/** Never answers; the connection stays open. */
export const blackHole: RawAnswer = () => undefined;

export async function startRawServer(answer: RawAnswer = blackHole): Promise<RawServer> {
  let current = answer;
  let connections = 0;
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    const connection = connections;
    let onConnection = 0;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        onConnection++;
        const request = { n: requests.length + 1, connection, onConnection, head, body };
        requests.push(request);
        current(request, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    requests,
    setAnswer(a) {
      current = a;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
