import * as http from "node:http";

/*
 * Baseline: a bare Node HTTP/1.1 server answering a small JSON POST the way
 * the JSON-RPC endpoint does (read the body, parse it, answer a result of
 * the same shape) with no gateway behind it.
 */

const port = Number(process.env.PORT);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    let id: unknown = null;
    try {
      id = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: unknown }).id ?? null;
    } catch {
      // A parse error still gets an answer: the load generator only counts.
    }
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id,
      result: {
        published: true,
        subject: "hub.bench.bench.jsonrpc",
        correlation_id: "00000000-0000-4000-8000-000000000000",
        event_id: "00000000-0000-7000-8000-000000000000",
        sequence: 1,
      },
    });
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
});
// As the gateway's one-port listener: keep-alive above common load balancer timeouts.
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => process.stdout.write(`ready ${port}\n`));
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
});
