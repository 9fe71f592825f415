// A kernel-side HTTP server for one file:
//
//   node --import tsx test/e2e/programs/http-file-server.ts FILE HOST LIFETIME_MS
//
// Serves FILE for any path, with a Content-Length, on HOST and an ephemeral port; prints `listening on PORT` once
// it listens, and exits by itself after LIFETIME_MS (a bound: the test stops it earlier by pid).

import fs from 'node:fs';
import http from 'node:http';
import { numeric, positional } from './argv.ts';

const a = positional('http-file-server.ts', ['file', 'host', 'lifetimeMs'] as const);
const size = fs.statSync(a.file).size;
const srv = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  fs.createReadStream(a.file).pipe(res);
});
srv.listen(0, a.host, () => {
  const addr = srv.address();
  console.log(`listening on ${typeof addr === 'object' && addr !== null ? addr.port : String(addr)}`);
});
setTimeout(() => process.exit(0), numeric('LIFETIME_MS', a.lifetimeMs)).unref();
