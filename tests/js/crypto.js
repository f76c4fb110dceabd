// crypto: random values, UUIDs, digests, HMAC keys, sign and verify.
export default {
  async fetch() {
    const out = [];
    const hex = (buf) => Array.from(new Uint8Array(buf), (x) => x.toString(16).padStart(2, "0")).join("");
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    out.push(`random: ${bytes.length} ${bytes.some((b) => b !== 0)}`);
    const words = crypto.getRandomValues(new Uint32Array(4));
    out.push(`random u32: ${words.length}`);
    for (const [label, arg] of [["float", new Float32Array(2)], ["too big", new Uint8Array(65537)]]) {
      try {
        crypto.getRandomValues(arg);
      } catch (e) {
        out.push(`${label}: ${e.name}`);
      }
    }
    const uuid = crypto.randomUUID();
    out.push(`uuid: ${/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid)} ${uuid !== crypto.randomUUID()}`);
    const data = new TextEncoder().encode("abc");
    for (const alg of ["SHA-1", "sha-256", { name: "SHA-384" }, "SHA-512"]) {
      out.push(`${JSON.stringify(alg)}: ${hex(await crypto.subtle.digest(alg, data))}`);
    }
    try {
      await crypto.subtle.digest("MD5", data);
    } catch (e) {
      out.push(`md5: ${e.name}`);
    }
    // RFC 4231, test case 2.
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("Jefe"), { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
    const message = new TextEncoder().encode("what do ya want for nothing?");
    const tag = await crypto.subtle.sign("HMAC", key, message);
    out.push(`hmac: ${hex(tag)}`);
    out.push(`verify: ${await crypto.subtle.verify("HMAC", key, tag, message)} ${await crypto.subtle.verify("HMAC", key, new Uint8Array(32), message)}`);
    out.push(`key: ${key.type} ${key.algorithm.name} ${key.algorithm.hash.name} ${key.algorithm.length} ${key.usages}`);
    const jwk = await crypto.subtle.exportKey("jwk", key);
    out.push(`jwk: ${JSON.stringify(jwk)}`);
    const again = await crypto.subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    out.push(`jwk round trip: ${await crypto.subtle.verify("HMAC", again, tag, message)}`);
    try {
      await crypto.subtle.exportKey("raw", again);
    } catch (e) {
      out.push(`not extractable: ${e.name}`);
    }
    try {
      await crypto.subtle.sign("HMAC", again, message);
    } catch (e) {
      out.push(`wrong usage: ${e.name}`);
    }
    const generated = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
    out.push(`generated: ${(await crypto.subtle.exportKey("raw", generated)).byteLength}`);
    return new Response(out.join("\n"));
  },
};

/* expected
random: 32 true
random u32: 4
float: TypeMismatchError
too big: QuotaExceededError
uuid: true true
"SHA-1": a9993e364706816aba3e25717850c26c9cd0d89d
"sha-256": ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
{"name":"SHA-384"}: cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7
"SHA-512": ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f
md5: NotSupportedError
hmac: 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
verify: true false
key: secret HMAC SHA-256 32 sign,verify
jwk: {"kty":"oct","k":"SmVmZQ","key_ops":["sign","verify"],"ext":true,"alg":"HS256"}
jwk round trip: true
not extractable: InvalidAccessError
wrong usage: InvalidAccessError
generated: 128
*/
