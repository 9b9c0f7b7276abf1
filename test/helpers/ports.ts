// A loopback TCP port free at the moment of asking, for the servers the tests start themselves.
import net from 'node:net';

export const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as net.AddressInfo;
    s.close(() => resolve(port));
  });
});
