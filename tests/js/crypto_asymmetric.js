// AES-GCM, ECDSA P-256 and RSASSA-PKCS1-v1_5 through crypto.subtle.
// The RSA key pair and its expected signature were made with OpenSSL
// (`openssl dgst -sha256 -sign`), a second implementation to agree with.
const RSA_PKCS8 = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCrDExfBv9t5DeuWe0T29W9yLESsIat8iLFCBdaHKl4ZdRB0vwkAA0gT4271OHOULLxuHNim7bji3iRY8IX4XwahQjnfXEYCuGtr0Y9fSETbma4DL7mWAHJuqaw8BFex13T5KSijMYfsd13LAa4Ncm389ViYls8kXjCNCEUCa3HVeZF8jWkSi5sVEcReljMfSduj+EHPjaoejq+3asOqf0r3tY6QwDkKBdhydyAxBhih+VsERz7XzklxYtlleCDlVTtcMoMqJtkHVsS+eFxqpca2EmFa2JVSe4tT0OQ53NkIiclNcPgsQS7t+svwnTB1Q3y7mdgLDz9foK973GPQkQDAgMBAAECgf858BUS9pT8f5pcvYbZoOZX0FnhQ+oRk858XK75+5bZnxIiFTDAt9YDiYEvsMenP2Vdn9O+3CRgE5Tn85ldWN7VQV9VCiiN17QHjqBgxd0lJYlchT3bWoZlF4sV0ak1KFLEc2UHql5NOYSBkEOR2O968hznpCAe0bnxMtu4W47vPuRX9ARLK8H1fK9KlhtgxsKya2n6Zcp1KYWdDKYGhy7xJcr5r2CqUmxqhvQCechB6fbscW3abmZl89/nca1lUj22AY0eufd/r+K65lT51YRHIvegNZ2iB2jBh1FQ70Yq72WTFA6vYdzDgTvdS/iR2n3Ideue48JctfCTWEJcNbECgYEA47Jh02MBwQan4nnySD883eWz6tcMRvELNGNhsRVGqrPlh3xoRIQQ8l1bgm+z2OrlHdNXKY0l8IiorgdMcGr01tcJn5fdqw/0cj0pIGmi7J57MgwOgBHuPccSbf9wXC9ceRYIyUjqHVDoddoMMkvsWJjmO3qT8b1kmP7bxWznbHkCgYEAwE9Gx5bD2PsXuZhrDbRlaeB48g/a5S2pSTvahIHvJaQfoDKIS//5yCmwvbNvVVei97vLC3BSry3+9Wi7s6Bu9IDMCFgjP8uxQ4tgzuT064aqZBb+9vjqHWxTZCe0nCz8Gw1Z7V+m7AwZRW5LM0AFoOppNIN3ipzDaETGIxgdHVsCgYEA0RlHbPBG9BRAqGKEdIReSQhgqRDDXYKOX5XEaPK46po59qnwtrrxNSE2oBokdtd/gFxMdwQAC1v0S5y4PaR7I7BmTgEQt773JNG1quZXkCQZzmP0DPhqaKEf85PYg0+bBDeP6gjjtfhPAasz+Bxw9wuyonx20FC0ySuCd1MDU0ECgYEAii9s+LYI/L1QivhO1IYv6Sh3P9jMvalV312240hKg42ve/lTnujMn1v1uBpbgcN7QvAaMpn/kAlJDya22ZgKon56HfTXP1wqgBKC+afjpeoaPdmYU/cAoyvXsDwnt6FLdlTdrYfx9eOrtQxP1P/IC5zlA+sD1wJWF3JzvXvyT8kCgYBALcVh6qRURyD+bAIHha9WsULcBLszlRNITVe2YwFwG6oyGZLWMlvb1F09nEL0/+xbVf/TWVXn5uqoZm8LeEqcwH/U6xwesjsTdW8zHPzU5CqTo3N4oyOnkF435xrfPqNNlxaAvsxQoi4yC2gPSlzmwT1c8hW8MvbQpjrL7D/LQA==";
const RSA_SPKI = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqwxMXwb/beQ3rlntE9vVvcixErCGrfIixQgXWhypeGXUQdL8JAANIE+Nu9ThzlCy8bhzYpu244t4kWPCF+F8GoUI531xGArhra9GPX0hE25muAy+5lgBybqmsPARXsdd0+SkoozGH7HddywGuDXJt/PVYmJbPJF4wjQhFAmtx1XmRfI1pEoubFRHEXpYzH0nbo/hBz42qHo6vt2rDqn9K97WOkMA5CgXYcncgMQYYoflbBEc+185JcWLZZXgg5VU7XDKDKibZB1bEvnhcaqXGthJhWtiVUnuLU9DkOdzZCInJTXD4LEEu7frL8J0wdUN8u5nYCw8/X6Cve9xj0JEAwIDAQAB";
const OPENSSL_SIGNATURE = "38df5dc6f2e6904b90ca754a8e275ad2562b9a523e7c9984c381d120fe1ef48c4861f1ce62d3af0093449b44fc65e590e3d2efbf33d130ab05ad2e20d790bf4890bdfb180d2b1faa45eb625de161111d9530d5f73be557d1fbb7b9a4f05ed684aaa8f05dfbe8d15928a60c243744dbc49069ae11d8ed5940db482564d95739c3dc76b23c0449662fd402dbf11b16c17f3605cf312ed70ce8e102705dfdcbd110b7087778effcfd93e1007f1b78baad19cd26662d84c5a83547d6a9e3bb42f9d221d46c8dec885f1cd410ff9f9f358d8bd283e4ae8ff974e68d3c856ba2265a6b7883ed9435fb7375f8ff93379d9931c08b04554149ab8e46ff3f1284e4dadc63";

const hex = (buf) => Array.from(new Uint8Array(buf), (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export default {
  async fetch() {
    const out = [];
    const subtle = crypto.subtle;
    const text = new TextEncoder().encode("hello islet");

    // AES-GCM: the first two test cases of the GCM specification.
    const zeroKey = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["encrypt", "decrypt"]);
    const iv = new Uint8Array(12);
    out.push(`gcm case 1: ${hex(await subtle.encrypt({ name: "AES-GCM", iv }, zeroKey, new Uint8Array(0)))}`);
    out.push(`gcm case 2: ${hex(await subtle.encrypt({ name: "AES-GCM", iv }, zeroKey, new Uint8Array(16)))}`);
    const key = await subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
    const aad = new TextEncoder().encode("header");
    const sealed = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, text);
    const opened = await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, sealed);
    out.push(`gcm round trip: ${new TextDecoder().decode(opened)} (${sealed.byteLength} bytes)`);
    const tampered = new Uint8Array(sealed);
    tampered[0] ^= 1;
    try {
      await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, tampered);
    } catch (e) {
      out.push(`gcm tampered: ${e.name}`);
    }
    const jwk = await subtle.exportKey("jwk", key);
    out.push(`gcm jwk: ${jwk.kty} ${jwk.alg} ${b64url(jwk.k).length * 8}`);

    // ECDSA P-256: generate, sign, verify, and move keys between formats.
    const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const ecdsa = { name: "ECDSA", hash: "SHA-256" };
    const signature = await subtle.sign(ecdsa, pair.privateKey, text);
    out.push(`ecdsa: ${signature.byteLength} bytes, verifies ${await subtle.verify(ecdsa, pair.publicKey, signature, text)}, other data ${await subtle.verify(ecdsa, pair.publicKey, signature, aad)}`);
    const curve = { name: "ECDSA", namedCurve: "P-256" };
    const fromJwk = await subtle.importKey("jwk", await subtle.exportKey("jwk", pair.publicKey), curve, true, ["verify"]);
    const raw = await subtle.exportKey("raw", pair.publicKey);
    const fromRaw = await subtle.importKey("raw", raw, curve, true, ["verify"]);
    const fromSpki = await subtle.importKey("spki", await subtle.exportKey("spki", fromRaw), curve, true, ["verify"]);
    out.push(`ecdsa formats: jwk ${await subtle.verify(ecdsa, fromJwk, signature, text)} raw(${raw.byteLength}) ${await subtle.verify(ecdsa, fromRaw, signature, text)} spki ${await subtle.verify(ecdsa, fromSpki, signature, text)}`);
    const privateJwk = await subtle.exportKey("jwk", pair.privateKey);
    const privateAgain = await subtle.importKey("pkcs8", await subtle.exportKey("pkcs8", pair.privateKey), curve, false, ["sign"]);
    const second = await subtle.sign(ecdsa, privateAgain, text);
    out.push(`ecdsa private: jwk has d ${typeof privateJwk.d === "string"}, pkcs8 signs ${await subtle.verify(ecdsa, pair.publicKey, second, text)}, ${pair.privateKey.type}/${pair.publicKey.type} ${pair.publicKey.algorithm.namedCurve}`);

    // RSASSA-PKCS1-v1_5 agrees with OpenSSL, signature for signature.
    const rsa = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const rsaPrivate = await subtle.importKey("pkcs8", b64(RSA_PKCS8), rsa, false, ["sign"]);
    const rsaPublic = await subtle.importKey("spki", b64(RSA_SPKI), rsa, true, ["verify"]);
    const rsaSignature = await subtle.sign("RSASSA-PKCS1-v1_5", rsaPrivate, text);
    out.push(`rsa matches openssl: ${hex(rsaSignature) === OPENSSL_SIGNATURE}`);
    out.push(`rsa verifies openssl's: ${await subtle.verify("RSASSA-PKCS1-v1_5", rsaPublic, unhex(OPENSSL_SIGNATURE), text)}, other data: ${await subtle.verify("RSASSA-PKCS1-v1_5", rsaPublic, rsaSignature, aad)}`);
    out.push(`rsa key: ${rsaPublic.algorithm.modulusLength} ${hex(rsaPublic.algorithm.publicExponent)} ${rsaPublic.algorithm.hash.name}`);
    const rsaJwk = await subtle.exportKey("jwk", rsaPublic);
    const rsaFromJwk = await subtle.importKey("jwk", rsaJwk, rsa, false, ["verify"]);
    out.push(`rsa jwk: ${rsaJwk.kty} ${rsaJwk.alg} ${rsaJwk.e} ${await subtle.verify("RSASSA-PKCS1-v1_5", rsaFromJwk, rsaSignature, text)}`);

    for (const [label, f] of [
      ["ecdh", () => subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveKey"])],
      ["p-384", () => subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign"])],
      ["bad usage", () => subtle.importKey("spki", b64(RSA_SPKI), rsa, true, ["sign"])],
      ["garbage spki", () => subtle.importKey("spki", new Uint8Array(10), rsa, true, ["verify"])],
    ]) {
      try {
        await f();
        out.push(`${label}: ok?!`);
      } catch (e) {
        out.push(`${label}: ${e.name}`);
      }
    }
    return new Response(out.join("\n"));
  },
};

function b64url(k) {
  const b = k.replace(/-/g, "+").replace(/_/g, "/");
  return atob(b + "===".slice((b.length + 3) % 4));
}

/* expected
gcm case 1: 58e2fccefa7e3061367f1d57a4e7455a
gcm case 2: 0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf
gcm round trip: hello islet (27 bytes)
gcm tampered: OperationError
gcm jwk: oct A256GCM 256
ecdsa: 64 bytes, verifies true, other data false
ecdsa formats: jwk true raw(65) true spki true
ecdsa private: jwk has d true, pkcs8 signs true, private/public P-256
rsa matches openssl: true
rsa verifies openssl's: true, other data: false
rsa key: 2048 010001 SHA-256
rsa jwk: RSA RS256 AQAB true
ecdh: NotSupportedError
p-384: NotSupportedError
bad usage: SyntaxError
garbage spki: DataError
*/
