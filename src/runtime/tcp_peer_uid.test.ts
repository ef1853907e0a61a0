import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { hexAddress, tcpPeerUid } from "./tcp_peer_uid.ts";

test("hexAddress - writes addresses as /proc/net/tcp{,6} does", () => {
  assert.equal(hexAddress("127.0.0.1"), "0100007F");
  assert.equal(hexAddress("::1"), "00000000000000000000000001000000");
  assert.equal(hexAddress("::ffff:127.0.0.1"), "0000000000000000FFFF00000100007F");
});

test(
  "tcpPeerUid - finds our own uid for a real loopback connection, and nothing for a made-up one",
  {
    skip: process.platform === "linux" ? false : "reads /proc/net/tcp",
  },
  async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    const socket = await accepted;
    try {
      const local = { address: socket.localAddress!, port: socket.localPort! };
      const remote = { address: socket.remoteAddress!, port: socket.remotePort! };
      assert.equal(tcpPeerUid(local, remote), process.getuid!());
      assert.equal(tcpPeerUid(local, { address: "127.0.0.1", port: 1 }), undefined);
    } finally {
      client.destroy();
      socket.destroy();
      server.close();
    }
  },
);
