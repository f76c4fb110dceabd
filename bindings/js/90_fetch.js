// Headers, Request and Response, and the hooks the engine uses to build
// a tenant's request and read its response.
(function (ops, platform) {
  "use strict";

  const define = platform.define;

  // ---- Headers -------------------------------------------------------

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  function normaliseName(name) {
    name = String(name);
    if (!TOKEN.test(name)) {
      throw new TypeError(`invalid header name: ${JSON.stringify(name)}`);
    }
    return name.toLowerCase();
  }

  function normaliseValue(value) {
    value = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\r\n]/.test(value)) {
      throw new TypeError(`invalid header value: ${JSON.stringify(value)}`);
    }
    return value;
  }

  class Headers {
    #list = new Map(); // lowercase name -> array of values

    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init.#list) this.#list.set(k, v.slice());
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) {
            throw new TypeError("each header pair needs a name and a value");
          }
          this.append(p[0], p[1]);
        }
      } else if (typeof init === "object") {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      } else {
        throw new TypeError("Headers init must be an object or iterable");
      }
    }

    append(name, value) {
      const key = normaliseName(name);
      const values = this.#list.get(key);
      if (values) values.push(normaliseValue(value));
      else this.#list.set(key, [normaliseValue(value)]);
    }

    set(name, value) {
      this.#list.set(normaliseName(name), [normaliseValue(value)]);
    }

    get(name) {
      const values = this.#list.get(normaliseName(name));
      return values ? values.join(", ") : null;
    }

    getSetCookie() {
      return (this.#list.get("set-cookie") || []).slice();
    }

    has(name) {
      return this.#list.has(normaliseName(name));
    }

    delete(name) {
      this.#list.delete(normaliseName(name));
    }

    *entries() {
      const names = Array.from(this.#list.keys()).sort();
      for (const name of names) {
        const values = this.#list.get(name);
        if (name === "set-cookie") {
          for (const v of values) yield [name, v];
        } else {
          yield [name, values.join(", ")];
        }
      }
    }

    *keys() {
      for (const [k] of this.entries()) yield k;
    }

    *values() {
      for (const [, v] of this.entries()) yield v;
    }

    forEach(callback, thisArg = undefined) {
      for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this);
    }

    [Symbol.iterator]() {
      return this.entries();
    }

    get [Symbol.toStringTag]() {
      return "Headers";
    }
  }

  // ---- Bodies --------------------------------------------------------

  // The body and the content type a body init implies (Fetch's
  // "extract a body").
  function extractBody(body) {
    if (body === undefined || body === null) return { body: null, type: null };
    if (body instanceof ReadableStream) return { body, type: null };
    if (typeof body === "string") return { body: ops.utf8Encode(body), type: "text/plain;charset=UTF-8" };
    if (body instanceof URLSearchParams) {
      return { body: ops.utf8Encode(body.toString()), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
    if (body instanceof FormData) {
      const [bytes, type] = platform.encodeMultipart(body);
      return { body: bytes, type };
    }
    if (body instanceof Blob) return { body: platform.blobBytes(body), type: body.type || null };
    if (body instanceof Uint8Array) return { body, type: null };
    if (body instanceof ArrayBuffer) return { body: new Uint8Array(body), type: null };
    if (ArrayBuffer.isView(body)) {
      return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), type: null };
    }
    return { body: ops.utf8Encode(String(body)), type: "text/plain;charset=UTF-8" };
  }

  const EMPTY = new Uint8Array(0);

  // A chunk of a body stream as bytes.
  function chunkBytes(chunk) {
    if (chunk instanceof Uint8Array) return chunk;
    if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
    if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (typeof chunk === "string") return ops.utf8Encode(chunk);
    throw new TypeError("a body stream chunk must be a Uint8Array, an ArrayBuffer or a string");
  }

  async function readAll(stream) {
    const chunks = [];
    let total = 0;
    for await (const chunk of stream) {
      const bytes = chunkBytes(chunk);
      chunks.push(bytes);
      total += bytes.length;
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }

  // A body is bytes (known up front) or a ReadableStream. `body` turns
  // bytes into a stream only when asked, so the common case never pays
  // for streams.
  class Body {
    #bytes = null;
    #stream = null;
    #streamFromBytes = false;
    #used = false;

    constructor(init) {
      if (init instanceof ReadableStream) this.#stream = init;
      else this.#bytes = init;
    }

    get body() {
      if (this.#stream) return this.#stream;
      if (this.#bytes === null) return null;
      const bytes = this.#bytes;
      this.#stream = new ReadableStream({
        start(controller) {
          if (bytes.length) controller.enqueue(bytes);
          controller.close();
        },
      });
      this.#streamFromBytes = true;
      return this.#stream;
    }

    get bodyUsed() {
      return this.#used || (this.#stream !== null && platform.isDisturbed(this.#stream));
    }

    async #consume() {
      if (this.bodyUsed) throw new TypeError("body has already been read");
      if (this.#stream?.locked) throw new TypeError("the body stream is locked to a reader");
      this.#used = true;
      if (this.#stream === null || this.#streamFromBytes) return this.#bytes || EMPTY;
      return readAll(this.#stream);
    }

    async arrayBuffer() {
      const bytes = await this.#consume();
      return bytes.slice().buffer;
    }

    async bytes() {
      return (await this.#consume()).slice();
    }

    async text() {
      return ops.utf8Decode(await this.#consume());
    }

    async json() {
      return JSON.parse(await this.text());
    }

    async blob() {
      const bytes = await this.#consume();
      return new Blob([bytes], { type: this.headers.get("content-type") ?? "" });
    }

    async formData() {
      const type = this.headers.get("content-type") ?? "";
      const bytes = await this.#consume();
      if (/^multipart\/form-data/i.test(type)) return platform.decodeMultipart(bytes, type);
      if (/^application\/x-www-form-urlencoded/i.test(type)) {
        const form = new FormData();
        for (const [k, v] of platform.parseForm(ops.utf8Decode(bytes, false))) form.append(k, v);
        return form;
      }
      throw new TypeError(`cannot read a body of type "${type}" as FormData`);
    }

    // The body for a copy: bytes are shared, a stream is teed.
    static cloneSource(body) {
      if (body.bodyUsed) throw new TypeError("cannot clone a used body");
      if (body.#stream === null || body.#streamFromBytes) return body.#bytes;
      const [mine, theirs] = body.#stream.tee();
      body.#stream = mine;
      return theirs;
    }

    // What the host sends: `{ bytes }` or `{ stream }`.
    static source(body) {
      if (body.#stream === null || body.#streamFromBytes) return { bytes: body.#bytes };
      return { stream: body.#stream };
    }

    static bytesOf(body) {
      return Body.source(body).bytes ?? null;
    }
  }

  // ---- Request -------------------------------------------------------

  class Request extends Body {
    #method;
    #url;
    #headers;
    #redirect;
    #signal;

    constructor(input, init = {}) {
      const source = input instanceof Request ? input : null;
      const extracted = init.body !== undefined ? extractBody(init.body) : { body: source ? Body.cloneSource(source) : null, type: null };
      const body = extracted.body;
      super(body);
      this.#url = source ? source.url : new URL(String(input)).href;
      this.#method = String(init.method || (source ? source.method : "GET")).toUpperCase();
      this.#headers = new Headers(init.headers || (source ? source.headers : undefined));
      if (extracted.type && !this.#headers.has("content-type")) this.#headers.set("content-type", extracted.type);
      this.#redirect = String(init.redirect ?? (source ? source.redirect : "follow"));
      if (!["follow", "manual", "error"].includes(this.#redirect)) {
        throw new TypeError(`redirect must be "follow", "manual" or "error", not ${JSON.stringify(this.#redirect)}`);
      }
      this.#signal = init.signal ?? (source ? source.signal : null) ?? new AbortController().signal;
      if (body && (this.#method === "GET" || this.#method === "HEAD")) {
        throw new TypeError(`a ${this.#method} request cannot have a body`);
      }
    }

    get method() {
      return this.#method;
    }

    get url() {
      return this.#url;
    }

    get headers() {
      return this.#headers;
    }

    get redirect() {
      return this.#redirect;
    }

    get signal() {
      return this.#signal;
    }

    clone() {
      if (this.bodyUsed) throw new TypeError("cannot clone a used body");
      return new Request(this);
    }

    get [Symbol.toStringTag]() {
      return "Request";
    }
  }

  // ---- Response ------------------------------------------------------

  const FROM_FETCH = Symbol("fromFetch");

  class Response extends Body {
    #status;
    #statusText;
    #headers;
    #url = "";
    #redirected = false;

    constructor(body = null, init = {}) {
      const extracted = extractBody(body);
      super(extracted.body);
      const status = init.status === undefined ? 200 : Number(init.status);
      const fetched = init[FROM_FETCH];
      if (fetched) {
        this.#url = fetched.url;
        this.#redirected = fetched.redirected;
      } else if (!Number.isInteger(status) || status < 200 || status > 599) {
        throw new RangeError(`status ${init.status} is not in the range 200 to 599`);
      }
      this.#status = status;
      this.#statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.#headers = new Headers(init.headers);
      if (extracted.type && !this.#headers.has("content-type")) {
        this.#headers.set("content-type", extracted.type);
      }
    }

    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }

    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(status)) {
        throw new RangeError(`${status} is not a redirect status`);
      }
      return new Response(null, { status, headers: { location: String(url) } });
    }

    get status() {
      return this.#status;
    }

    get statusText() {
      return this.#statusText;
    }

    get ok() {
      return this.#status >= 200 && this.#status < 300;
    }

    get url() {
      return this.#url;
    }

    get redirected() {
      return this.#redirected;
    }

    get type() {
      return this.#url ? "basic" : "default";
    }

    get headers() {
      return this.#headers;
    }

    clone() {
      return new Response(Body.cloneSource(this), {
        status: this.#status,
        statusText: this.#statusText,
        headers: this.#headers,
      });
    }

    get [Symbol.toStringTag]() {
      return "Response";
    }
  }

  // ---- fetch ---------------------------------------------------------

  const pendingFetches = new Map(); // id -> { resolve, reject }

  async function fetch(input, init = undefined) {
    const request = new Request(input, init ?? {});
    const signal = request.signal;
    if (signal.aborted) throw signal.reason;
    // Outbound bodies are sent whole.
    const body = request.bodyUsed ? EMPTY : new Uint8Array(await request.arrayBuffer());
    return new Promise((resolve, reject) => {
      const flat = [];
      for (const [k, v] of request.headers) flat.push(k, v);
      // Throws a TypeError naming the host when the policy says no.
      const id = ops.fetchStart(request.method, request.url, flat, body, request.redirect);
      pendingFetches.set(id, { resolve, reject });
      signal.addEventListener(
        "abort",
        () => {
          if (pendingFetches.delete(id)) {
            ops.fetchCancel(id);
            reject(signal.reason);
          }
        },
        { once: true },
      );
    });
  }

  define("fetch", fetch);
  define("Headers", Headers);
  define("Request", Request);
  define("Response", Response);

  const NULL_BODY_STATUS = [101, 204, 205, 304];
  const contextWaits = new WeakMap(); // ctx -> promises passed to waitUntil
  const writes = new Map(); // body write id -> resolve(accepted)
  const bodyReads = new Map(); // body read id -> { controller, resolve }

  // The request body as the host streams it: each pull asks the host for
  // one chunk, so a tenant that reads slowly slows the upload down.
  function requestBodyStream() {
    return new ReadableStream(
      {
        pull(controller) {
          return new Promise((resolve) => bodyReads.set(ops.bodyRead(), { controller, resolve }));
        },
        cancel() {
          ops.bodyCancel();
        },
      },
      { highWaterMark: 0 },
    );
  }

  // ---- Hooks for the host -------------------------------------------

  function describe(value) {
    if (value === null) return "null";
    if (typeof value !== "object") return typeof value;
    const name = value.constructor && value.constructor.name;
    return name ? `an object of class ${name}` : "an object";
  }

  Object.assign(platform.hooks, {
    // A fetch finished: settle its promise with a Response.
    fetchDone(id, status, statusText, flat, body, url, redirected) {
      const pending = pendingFetches.get(id);
      if (!pending) return;
      pendingFetches.delete(id);
      const headers = new Headers();
      for (let i = 0; i < flat.length; i += 2) headers.append(flat[i], flat[i + 1]);
      const response = new Response(NULL_BODY_STATUS.includes(status) ? null : body, {
        status,
        statusText,
        headers,
        [FROM_FETCH]: { url, redirected },
      });
      pending.resolve(response);
    },

    // A fetch failed (network error, denied redirect, ...).
    fetchFailed(id, message) {
      const pending = pendingFetches.get(id);
      if (!pending) return;
      pendingFetches.delete(id);
      pending.reject(new TypeError(message));
    },

    // Builds the Request handed to `fetch`. `headers` is a flat array of
    // names and values.
    // `body` is a Uint8Array, or `true` when the host streams it.
    makeRequest(method, url, headers, body) {
      const pairs = [];
      for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
      const init = { method, headers: pairs };
      if (method !== "GET" && method !== "HEAD") init.body = body === true ? requestBodyStream() : body;
      return new Request(url, init);
    },

    // A chunk of a streamed request body arrived: bytes, `null` at the
    // end, or an error message.
    bodyChunk(id, chunk, error) {
      const read = bodyReads.get(id);
      bodyReads.delete(id);
      if (!read) return;
      if (typeof error === "string") read.controller.error(new TypeError(error));
      else if (chunk === null) read.controller.close();
      else read.controller.enqueue(chunk);
      read.resolve();
    },

    // Builds the `ctx` argument of `fetch`.
    makeContext() {
      const waits = [];
      const ctx = Object.freeze({
        waitUntil(promise) {
          if (waits.length === 0) ops.waitUntilUsed();
          waits.push(Promise.resolve(promise).catch((e) => console.error("waitUntil:", e)));
        },
        passThroughOnException() {},
      });
      contextWaits.set(ctx, waits);
      return ctx;
    },

    // A promise for the work passed to `ctx.waitUntil`, including work
    // added while waiting; undefined if there is none.
    waitUntilPromise(ctx) {
      const waits = contextWaits.get(ctx);
      if (!waits || waits.length === 0) return undefined;
      return (async () => {
        while (waits.length) await Promise.allSettled(waits.splice(0));
      })();
    },

    // Reads what `fetch` returned: [status, flatHeaders, bodyBytes].
    readResponse(value) {
      if (!(value instanceof Response)) {
        throw new TypeError(`the handler returned ${describe(value)}, not a Response`);
      }
      if (value.bodyUsed) throw new TypeError("the returned Response's body was already read");
      const flat = [];
      for (const [k, v] of value.headers) flat.push(k, v);
      const source = Body.source(value);
      if (source.stream) return [value.status, flat, null, source.stream];
      return [value.status, flat, source.bytes || EMPTY];
    },

    // Streams a response body to the client, chunk by chunk; each write
    // waits until the host has taken the chunk.
    async pumpBody(stream) {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const bytes = chunkBytes(value);
          if (bytes.length === 0) continue;
          const accepted = await new Promise((resolve) => writes.set(ops.bodyWrite(bytes), resolve));
          if (!accepted) {
            await reader.cancel(new DOMException("the client went away", "AbortError"));
            return;
          }
        }
      } finally {
        reader.releaseLock();
      }
    },

    // The host took (or, when the client is gone, dropped) a chunk.
    bodyWritten(id, accepted) {
      const resolve = writes.get(id);
      writes.delete(id);
      resolve?.(accepted);
    },
  });
})
