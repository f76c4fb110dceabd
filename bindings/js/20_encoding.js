// TextEncoder, TextDecoder (UTF-8), atob and btoa.
(function (ops, platform) {
  "use strict";

  function toUint8(input) {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof Uint8Array) return input;
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("expected an ArrayBuffer or an ArrayBufferView");
  }
  platform.toUint8 = toUint8;

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }

    encode(input = "") {
      return ops.utf8Encode(String(input));
    }

    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("destination must be a Uint8Array");
      let read = 0;
      let written = 0;
      for (const char of String(source)) {
        const cp = char.codePointAt(0);
        const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + size > destination.length) break;
        // Lone surrogates encode as U+FFFD.
        const bytes = cp >= 0xd800 && cp <= 0xdfff ? [0xef, 0xbf, 0xbd] : encodePoint(cp);
        destination.set(bytes, written);
        written += bytes.length;
        read += char.length;
      }
      return { read, written };
    }

    get [Symbol.toStringTag]() {
      return "TextEncoder";
    }
  }

  function encodePoint(cp) {
    if (cp < 0x80) return [cp];
    if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 63)];
    if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  }

  const UTF8_LABELS = new Set(["utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"]);

  /// How many bytes at the end of `bytes` start a sequence that is not
  /// complete yet.
  function incompleteTail(bytes) {
    const n = bytes.length;
    for (let back = 1; back <= Math.min(3, n); back++) {
      const b = bytes[n - back];
      if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
      const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
      return need > back ? back : 0;
    }
    return 0;
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = new Uint8Array(0);
    #seenStart = false;

    constructor(label = "utf-8", options = {}) {
      const normalised = String(label).trim().toLowerCase();
      if (!UTF8_LABELS.has(normalised)) {
        throw new RangeError(`the encoding "${label}" is not supported; islet decodes UTF-8 only`);
      }
      this.#fatal = Boolean(options.fatal);
      this.#ignoreBOM = Boolean(options.ignoreBOM);
    }

    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }

    decode(input = undefined, options = {}) {
      let bytes = toUint8(input);
      if (this.#pending.length) {
        const joined = new Uint8Array(this.#pending.length + bytes.length);
        joined.set(this.#pending);
        joined.set(bytes, this.#pending.length);
        bytes = joined;
      }
      const stream = Boolean(options.stream);
      const keep = stream ? incompleteTail(bytes) : 0;
      this.#pending = keep ? bytes.slice(bytes.length - keep) : new Uint8Array(0);
      let body = keep ? bytes.subarray(0, bytes.length - keep) : bytes;
      if (!this.#seenStart && body.length > 0) {
        if (!this.#ignoreBOM && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
        this.#seenStart = true;
      }
      const text = ops.utf8Decode(body, this.#fatal);
      if (text === null) {
        this.#pending = new Uint8Array(0);
        this.#seenStart = false;
        throw new TypeError("The encoded data was not valid UTF-8");
      }
      if (!stream) this.#seenStart = false;
      return text;
    }

    get [Symbol.toStringTag]() {
      return "TextDecoder";
    }
  }

  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const LOOKUP = new Map([...ALPHABET].map((c, i) => [c, i]));

  function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa requires an argument");
    const text = String(data);
    let out = "";
    for (let i = 0; i < text.length; i += 3) {
      const codes = [text.charCodeAt(i), text.charCodeAt(i + 1), text.charCodeAt(i + 2)];
      for (const c of codes) {
        if (c > 255) throw new DOMException("The string to be encoded contains characters outside of the Latin1 range.", "InvalidCharacterError");
      }
      const [a, b, c] = codes;
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
      out += i + 1 < text.length ? ALPHABET[(n >> 6) & 63] : "=";
      out += i + 2 < text.length ? ALPHABET[n & 63] : "=";
    }
    return out;
  }

  function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob requires an argument");
    let text = String(data).replace(/[\t\n\f\r ]/g, "");
    if (text.length % 4 === 0) text = text.replace(/==?$/, "");
    const invalid = () => new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
    if (text.length % 4 === 1) throw invalid();
    let out = "";
    let buffer = 0;
    let bits = 0;
    for (const c of text) {
      const v = LOOKUP.get(c);
      if (v === undefined) throw invalid();
      buffer = (buffer << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += String.fromCharCode((buffer >> bits) & 255);
      }
    }
    return out;
  }

  class TextEncoderStream extends TransformStream {
    constructor() {
      const encoder = new TextEncoder();
      let pending = ""; // a high surrogate waiting for its pair
      super({
        transform(chunk, controller) {
          let text = pending + String(chunk);
          pending = "";
          const last = text.charCodeAt(text.length - 1);
          if (last >= 0xd800 && last <= 0xdbff) {
            pending = text.slice(-1);
            text = text.slice(0, -1);
          }
          if (text) controller.enqueue(encoder.encode(text));
        },
        flush(controller) {
          if (pending) controller.enqueue(encoder.encode(pending));
        },
      });
    }
    get encoding() { return "utf-8"; }
  }

  class TextDecoderStream extends TransformStream {
    #decoder;
    constructor(label = "utf-8", options = {}) {
      const decoder = new TextDecoder(label, options);
      super({
        transform(chunk, controller) {
          const text = decoder.decode(chunk, { stream: true });
          if (text) controller.enqueue(text);
        },
        flush(controller) {
          const text = decoder.decode();
          if (text) controller.enqueue(text);
        },
      });
      this.#decoder = decoder;
    }
    get encoding() { return this.#decoder.encoding; }
    get fatal() { return this.#decoder.fatal; }
    get ignoreBOM() { return this.#decoder.ignoreBOM; }
  }

  platform.define("TextEncoderStream", TextEncoderStream);
  platform.define("TextDecoderStream", TextDecoderStream);
  platform.define("TextEncoder", TextEncoder);
  platform.define("TextDecoder", TextDecoder);
  platform.define("btoa", btoa);
  platform.define("atob", atob);
})
