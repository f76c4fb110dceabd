// Web Crypto: crypto.getRandomValues, crypto.randomUUID and crypto.subtle
// (digest; HMAC keys, sign and verify; raw and JWK import and export).
// Primitives are the host's (RustCrypto); this file checks arguments and
// shapes results as the Web Crypto spec says.
(function (ops, platform) {
  "use strict";

  const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];
  const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
  const HASH_BITS = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };

  function getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((T) => array instanceof T)) {
      throw new DOMException("getRandomValues needs an integer typed array", "TypeMismatchError");
    }
    if (array.byteLength > 65536) {
      throw new DOMException(`${array.byteLength} bytes is more than the 65536 getRandomValues fills`, "QuotaExceededError");
    }
    ops.randomFill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    return array;
  }

  function randomUUID() {
    const b = ops.randomFill(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // ---- helpers --------------------------------------------------------

  function bytesOf(data) {
    if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    throw new TypeError("expected a BufferSource (ArrayBuffer or a view of one)");
  }

  function algorithmName(algorithm) {
    const name = typeof algorithm === "string" ? algorithm : algorithm?.name;
    if (typeof name !== "string") throw new TypeError("an algorithm needs a name");
    return name;
  }

  function normaliseHash(hash) {
    const name = algorithmName(hash).toUpperCase();
    const found = HASHES.find((h) => h === name);
    if (!found) throw new DOMException(`unsupported hash ${algorithmName(hash)}`, "NotSupportedError");
    return found;
  }

  function notSupported(what) {
    return new DOMException(`islet does not support ${what}`, "NotSupportedError");
  }

  const toBase64Url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const fromBase64Url = (text) => {
    const b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
  };

  // ---- CryptoKey --------------------------------------------------------

  const KEY = Symbol("key");
  const secret = new WeakMap(); // CryptoKey -> Uint8Array

  class CryptoKey {
    #type;
    #extractable;
    #algorithm;
    #usages;
    constructor(key, type, extractable, algorithm, usages, material) {
      if (key !== KEY) throw new TypeError("Illegal constructor");
      this.#type = type;
      this.#extractable = extractable;
      this.#algorithm = Object.freeze(algorithm);
      this.#usages = Object.freeze([...usages]);
      secret.set(this, material);
    }
    get type() { return this.#type; }
    get extractable() { return this.#extractable; }
    get algorithm() { return this.#algorithm; }
    get usages() { return this.#usages; }
    get [Symbol.toStringTag]() { return "CryptoKey"; }
  }

  function checkUsages(usages, allowed) {
    for (const u of usages) {
      if (!allowed.includes(u)) throw new DOMException(`usage "${u}" is not valid for this key`, "SyntaxError");
    }
  }

  function keyFor(key, name, usage) {
    if (!(key instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
    if (key.algorithm.name !== name) throw new DOMException(`the key is for ${key.algorithm.name}, not ${name}`, "InvalidAccessError");
    if (!key.usages.includes(usage)) throw new DOMException(`the key may not be used to ${usage}`, "InvalidAccessError");
    return secret.get(key);
  }

  // ---- HMAC -------------------------------------------------------------

  function importHmac(format, keyData, algorithm, extractable, usages) {
    checkUsages(usages, ["sign", "verify"]);
    const hash = normaliseHash(algorithm.hash);
    let material;
    if (format === "raw") {
      material = bytesOf(keyData);
    } else if (format === "jwk") {
      if (keyData?.kty !== "oct" || typeof keyData.k !== "string") throw new DOMException("an HMAC JWK needs kty \"oct\" and k", "DataError");
      material = fromBase64Url(keyData.k);
      const expected = "HS" + hash.slice(4);
      if (keyData.alg !== undefined && keyData.alg !== (hash === "SHA-1" ? "HS1" : expected)) {
        throw new DOMException(`the JWK's alg ${keyData.alg} does not match ${hash}`, "DataError");
      }
    } else {
      throw notSupported(`importing HMAC keys in the "${format}" format`);
    }
    if (material.length === 0) throw new DOMException("an HMAC key cannot be empty", "DataError");
    const length = algorithm.length ?? material.length * 8;
    return new CryptoKey(KEY, "secret", Boolean(extractable), { name: "HMAC", hash: { name: hash }, length }, usages, material);
  }

  function generateHmac(algorithm, extractable, usages) {
    checkUsages(usages, ["sign", "verify"]);
    const hash = normaliseHash(algorithm.hash);
    const length = algorithm.length ?? HASH_BITS[hash];
    const material = ops.randomFill(new Uint8Array(Math.ceil(length / 8)));
    return new CryptoKey(KEY, "secret", Boolean(extractable), { name: "HMAC", hash: { name: hash }, length }, usages, material);
  }

  function exportSecret(format, key) {
    if (!key.extractable) throw new DOMException("the key is not extractable", "InvalidAccessError");
    const material = secret.get(key);
    if (format === "raw") return material.slice().buffer;
    if (format === "jwk") {
      const jwk = { kty: "oct", k: toBase64Url(material), key_ops: [...key.usages], ext: key.extractable };
      if (key.algorithm.name === "HMAC") {
        const hash = key.algorithm.hash.name;
        jwk.alg = hash === "SHA-1" ? "HS1" : "HS" + hash.slice(4);
      }
      return jwk;
    }
    throw notSupported(`exporting keys in the "${format}" format`);
  }

  // ---- SubtleCrypto -------------------------------------------------------

  // Every method returns a promise and turns a throw into a rejection.
  const promised = (f) => function (...args) {
    try {
      return Promise.resolve(f.apply(this, args));
    } catch (error) {
      return Promise.reject(error);
    }
  };

  class SubtleCrypto {
    constructor(key) {
      if (key !== KEY) throw new TypeError("Illegal constructor");
    }
    get [Symbol.toStringTag]() { return "SubtleCrypto"; }
  }

  Object.assign(SubtleCrypto.prototype, {
    digest: promised((algorithm, data) => ops.digest(normaliseHash(algorithm), bytesOf(data)).buffer),

    importKey: promised((format, keyData, algorithm, extractable, usages) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") return importHmac(format, keyData, typeof algorithm === "string" ? {} : algorithm, extractable, usages);
      throw notSupported(`the ${algorithmName(algorithm)} algorithm yet`);
    }),

    exportKey: promised((format, key) => {
      if (!(key instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
      return exportSecret(format, key);
    }),

    generateKey: promised((algorithm, extractable, usages) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") return generateHmac(algorithm, extractable, usages);
      throw notSupported(`the ${algorithmName(algorithm)} algorithm yet`);
    }),

    sign: promised((algorithm, key, data) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") {
        const material = keyFor(key, "HMAC", "sign");
        return ops.hmacSign(key.algorithm.hash.name, material, bytesOf(data)).buffer;
      }
      throw notSupported(`signing with ${algorithmName(algorithm)} yet`);
    }),

    verify: promised((algorithm, key, signature, data) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") {
        const material = keyFor(key, "HMAC", "verify");
        return ops.hmacVerify(key.algorithm.hash.name, material, bytesOf(data), bytesOf(signature));
      }
      throw notSupported(`verifying with ${algorithmName(algorithm)} yet`);
    }),
  });

  class Crypto {
    #subtle = new SubtleCrypto(KEY);
    constructor(key) {
      if (key !== KEY) throw new TypeError("Illegal constructor");
    }
    get subtle() { return this.#subtle; }
    getRandomValues(array) { return getRandomValues(array); }
    randomUUID() { return randomUUID(); }
    get [Symbol.toStringTag]() { return "Crypto"; }
  }

  platform.define("crypto", new Crypto(KEY));
  platform.define("Crypto", Crypto);
  platform.define("CryptoKey", CryptoKey);
  platform.define("SubtleCrypto", SubtleCrypto);
})
