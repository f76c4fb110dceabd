// Web Crypto: crypto.getRandomValues, crypto.randomUUID and crypto.subtle:
// digest; HMAC, AES-GCM, ECDSA (P-256) and RSASSA-PKCS1-v1_5 keys (raw,
// JWK, SPKI and PKCS#8 where the spec allows them), sign, verify, encrypt
// and decrypt.
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
      if (key.algorithm.name === "AES-GCM") jwk.alg = `A${key.algorithm.length}GCM`;
      if (key.algorithm.name === "HMAC") {
        const hash = key.algorithm.hash.name;
        jwk.alg = hash === "SHA-1" ? "HS1" : "HS" + hash.slice(4);
      }
      return jwk;
    }
    throw notSupported(`exporting keys in the "${format}" format`);
  }

  // Host crypto errors carry their DOMException name in the message.
  function host(f) {
    try {
      return f();
    } catch (error) {
      const m = /^(\w+Error): ([\s\S]*)$/.exec(error?.message ?? "");
      if (m && !(error instanceof DOMException)) throw new DOMException(m[2], m[1]);
      throw error;
    }
  }

  // ---- AES-GCM ------------------------------------------------------------

  function importAes(format, keyData, extractable, usages) {
    checkUsages(usages, ["encrypt", "decrypt", "wrapKey", "unwrapKey"]);
    let material;
    if (format === "raw") material = bytesOf(keyData);
    else if (format === "jwk") {
      if (keyData?.kty !== "oct" || typeof keyData.k !== "string") throw new DOMException("an AES JWK needs kty \"oct\" and k", "DataError");
      material = fromBase64Url(keyData.k);
    } else throw notSupported(`importing AES keys in the "${format}" format`);
    if (![16, 32].includes(material.length)) throw new DOMException(`AES-GCM keys are 128 or 256 bits, not ${material.length * 8}`, "DataError");
    return new CryptoKey(KEY, "secret", Boolean(extractable), { name: "AES-GCM", length: material.length * 8 }, usages, material);
  }

  function aesGcm(encrypt, algorithm, key, data) {
    const material = keyFor(key, "AES-GCM", encrypt ? "encrypt" : "decrypt");
    if (algorithm.tagLength !== undefined && algorithm.tagLength !== 128) throw notSupported(`an AES-GCM tag of ${algorithm.tagLength} bits`);
    const iv = bytesOf(algorithm.iv);
    const aad = algorithm.additionalData === undefined ? new Uint8Array(0) : bytesOf(algorithm.additionalData);
    return host(() => ops.aesGcm(encrypt, material, iv, bytesOf(data), aad)).buffer;
  }

  // ---- ECDSA and RSASSA-PKCS1-v1_5 -----------------------------------------

  // Key material of an asymmetric key: DER, private (PKCS#8) or public (SPKI).
  const asymmetric = (der) => ({ private: der[0], public: der[1] });

  function importEc(format, keyData, algorithm, extractable, usages) {
    if (algorithm.namedCurve !== "P-256") throw notSupported(`the curve ${algorithm.namedCurve}`);
    let der;
    if (format === "jwk") {
      if (keyData?.kty !== "EC" || keyData.crv !== "P-256") throw new DOMException("an ECDSA JWK needs kty \"EC\" and crv \"P-256\"", "DataError");
      der = host(() => ops.ecFromJwk(keyData.d === undefined ? null : fromBase64Url(keyData.d), fromBase64Url(keyData.x), fromBase64Url(keyData.y)));
    } else if (format === "raw") der = host(() => ops.ecFromRaw(bytesOf(keyData)));
    else if (format === "spki") der = host(() => ops.ecFromDer(false, bytesOf(keyData)));
    else if (format === "pkcs8") der = host(() => ops.ecFromDer(true, bytesOf(keyData)));
    else throw notSupported(`importing ECDSA keys in the "${format}" format`);
    const isPrivate = der[0] !== null;
    checkUsages(usages, isPrivate ? ["sign"] : ["verify"]);
    return new CryptoKey(KEY, isPrivate ? "private" : "public", Boolean(extractable), { name: "ECDSA", namedCurve: "P-256" }, usages, asymmetric(der));
  }

  function generateEc(algorithm, extractable, usages) {
    if (algorithm.namedCurve !== "P-256") throw notSupported(`the curve ${algorithm.namedCurve}`);
    checkUsages(usages, ["sign", "verify"]);
    const der = host(() => ops.ecGenerate());
    const alg = { name: "ECDSA", namedCurve: "P-256" };
    return {
      privateKey: new CryptoKey(KEY, "private", Boolean(extractable), alg, usages.filter((u) => u === "sign"), asymmetric(der)),
      publicKey: new CryptoKey(KEY, "public", true, alg, usages.filter((u) => u === "verify"), { private: null, public: der[1] }),
    };
  }

  function importRsa(format, keyData, algorithm, extractable, usages) {
    const hash = normaliseHash(algorithm.hash);
    let der;
    if (format === "jwk") {
      if (keyData?.kty !== "RSA") throw new DOMException("an RSA JWK needs kty \"RSA\"", "DataError");
      const part = (k) => (keyData[k] === undefined ? null : fromBase64Url(keyData[k]));
      der = host(() => ops.rsaFromJwk(fromBase64Url(keyData.n), fromBase64Url(keyData.e), part("d"), part("p"), part("q")));
    } else if (format === "spki") der = host(() => ops.rsaFromDer(false, bytesOf(keyData)));
    else if (format === "pkcs8") der = host(() => ops.rsaFromDer(true, bytesOf(keyData)));
    else throw notSupported(`importing RSA keys in the "${format}" format`);
    const isPrivate = der[0] !== null;
    checkUsages(usages, isPrivate ? ["sign"] : ["verify"]);
    const [, e, modulusLength] = host(() => ops.rsaPublicParts(der[1]));
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: { name: hash }, modulusLength, publicExponent: e };
    return new CryptoKey(KEY, isPrivate ? "private" : "public", Boolean(extractable), alg, usages, asymmetric(der));
  }

  function exportAsymmetric(format, key) {
    if (!key.extractable) throw new DOMException("the key is not extractable", "InvalidAccessError");
    const der = secret.get(key);
    const name = key.algorithm.name;
    if (format === "spki" && key.type === "public") return der.public.slice().buffer;
    if (format === "pkcs8" && key.type === "private") return der.private.slice().buffer;
    if (format === "raw" && name === "ECDSA" && key.type === "public") return host(() => ops.ecToRaw(der.public)).buffer;
    if (format === "jwk" && name === "ECDSA") {
      const [x, y, d] = host(() => ops.ecToJwk(der.private, der.public));
      const jwk = { kty: "EC", crv: "P-256", x: toBase64Url(x), y: toBase64Url(y), key_ops: [...key.usages], ext: true };
      if (d) jwk.d = toBase64Url(d);
      return jwk;
    }
    if (format === "jwk" && name === "RSASSA-PKCS1-v1_5" && key.type === "public") {
      const [n, e] = host(() => ops.rsaPublicParts(der.public));
      return { kty: "RSA", n: toBase64Url(n), e: toBase64Url(e), alg: "RS" + key.algorithm.hash.name.slice(4), key_ops: [...key.usages], ext: true };
    }
    throw notSupported(`exporting a ${key.type} ${name} key in the "${format}" format`);
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
      const params = typeof algorithm === "string" ? {} : algorithm;
      if (name === "HMAC") return importHmac(format, keyData, params, extractable, usages);
      if (name === "AES-GCM") return importAes(format, keyData, extractable, usages);
      if (name === "ECDSA") return importEc(format, keyData, params, extractable, usages);
      if (name === "RSASSA-PKCS1-V1_5") return importRsa(format, keyData, params, extractable, usages);
      throw notSupported(`the ${algorithmName(algorithm)} algorithm`);
    }),

    exportKey: promised((format, key) => {
      if (!(key instanceof CryptoKey)) throw new TypeError("expected a CryptoKey");
      if (key.type === "secret") return exportSecret(format, key);
      return exportAsymmetric(format, key);
    }),

    generateKey: promised((algorithm, extractable, usages) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") return generateHmac(algorithm, extractable, usages);
      if (name === "AES-GCM") {
        const length = Number(algorithm.length);
        if (![128, 256].includes(length)) throw new DOMException("AES-GCM keys are 128 or 256 bits", "OperationError");
        checkUsages(usages, ["encrypt", "decrypt", "wrapKey", "unwrapKey"]);
        return new CryptoKey(KEY, "secret", Boolean(extractable), { name: "AES-GCM", length }, usages, ops.randomFill(new Uint8Array(length / 8)));
      }
      if (name === "ECDSA") return generateEc(algorithm, extractable, usages);
      throw notSupported(`generating ${algorithmName(algorithm)} keys`);
    }),

    sign: promised((algorithm, key, data) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") {
        const material = keyFor(key, "HMAC", "sign");
        return ops.hmacSign(key.algorithm.hash.name, material, bytesOf(data)).buffer;
      }
      if (name === "ECDSA") {
        const der = keyFor(key, "ECDSA", "sign");
        return host(() => ops.ecdsaSign(normaliseHash(algorithm.hash), der.private, bytesOf(data))).buffer;
      }
      if (name === "RSASSA-PKCS1-V1_5") {
        const der = keyFor(key, "RSASSA-PKCS1-v1_5", "sign");
        return host(() => ops.rsaSign(key.algorithm.hash.name, der.private, bytesOf(data))).buffer;
      }
      throw notSupported(`signing with ${algorithmName(algorithm)}`);
    }),

    verify: promised((algorithm, key, signature, data) => {
      const name = algorithmName(algorithm).toUpperCase();
      if (name === "HMAC") {
        const material = keyFor(key, "HMAC", "verify");
        return ops.hmacVerify(key.algorithm.hash.name, material, bytesOf(data), bytesOf(signature));
      }
      if (name === "ECDSA") {
        const der = keyFor(key, "ECDSA", "verify");
        return host(() => ops.ecdsaVerify(normaliseHash(algorithm.hash), der.public, bytesOf(data), bytesOf(signature)));
      }
      if (name === "RSASSA-PKCS1-V1_5") {
        const der = keyFor(key, "RSASSA-PKCS1-v1_5", "verify");
        return host(() => ops.rsaVerify(key.algorithm.hash.name, der.public, bytesOf(data), bytesOf(signature)));
      }
      throw notSupported(`verifying with ${algorithmName(algorithm)}`);
    }),

    encrypt: promised((algorithm, key, data) => {
      if (algorithmName(algorithm).toUpperCase() === "AES-GCM") return aesGcm(true, algorithm, key, data);
      throw notSupported(`encrypting with ${algorithmName(algorithm)}`);
    }),

    decrypt: promised((algorithm, key, data) => {
      if (algorithmName(algorithm).toUpperCase() === "AES-GCM") return aesGcm(false, algorithm, key, data);
      throw notSupported(`decrypting with ${algorithmName(algorithm)}`);
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
