// Streams (WHATWG): ReadableStream with default readers, WritableStream,
// TransformStream and the queuing strategies. Byte streams and BYOB
// readers are not implemented (see the README's compatibility table).
(function (ops, platform) {
  "use strict";

  const PRIVATE = Symbol("private");
  const CLOSED = Symbol("closed"); // a reader's `closed` resolvers
  const REQUESTS = Symbol("requests"); // a reader's pending reads

  function resolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  function sizeAlgorithm(strategy) {
    const size = strategy?.size;
    return typeof size === "function" ? (chunk) => Number(size(chunk)) : () => 1;
  }

  function highWaterMark(strategy, fallback) {
    const hwm = strategy?.highWaterMark;
    if (hwm === undefined) return fallback;
    const n = Number(hwm);
    if (Number.isNaN(n) || n < 0) throw new RangeError("highWaterMark must be a non-negative number");
    return n;
  }

  class CountQueuingStrategy {
    #hwm;
    constructor(init) {
      this.#hwm = Number(init?.highWaterMark);
    }
    get highWaterMark() { return this.#hwm; }
    get size() { return () => 1; }
  }

  class ByteLengthQueuingStrategy {
    #hwm;
    constructor(init) {
      this.#hwm = Number(init?.highWaterMark);
    }
    get highWaterMark() { return this.#hwm; }
    get size() { return (chunk) => chunk.byteLength; }
  }

  // ---- ReadableStream --------------------------------------------------

  class ReadableStreamDefaultController {
    constructor(key, stream) {
      if (key !== PRIVATE) throw new TypeError("Illegal constructor");
      this[PRIVATE] = stream;
    }
    get desiredSize() {
      const s = this[PRIVATE];
      if (s.state === "errored") return null;
      if (s.state === "closed") return 0;
      return s.hwm - s.queueSize;
    }
    enqueue(chunk) {
      const s = this[PRIVATE];
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream cannot take more chunks");
      const reader = s.reader;
      if (reader && reader[REQUESTS].length > 0) {
        reader[REQUESTS].shift().resolve({ value: chunk, done: false });
      } else {
        const size = s.size(chunk);
        s.queue.push({ chunk, size });
        s.queueSize += size;
      }
      s.pullIfNeeded();
    }
    close() {
      const s = this[PRIVATE];
      if (s.closeRequested || s.state !== "readable") throw new TypeError("the stream is already closing");
      s.closeRequested = true;
      if (s.queue.length === 0) s.finishClose();
    }
    error(reason) {
      this[PRIVATE].fail(reason);
    }
  }

  class StreamState {
    constructor(stream) {
      this.stream = stream;
      this.state = "readable";
      this.queue = [];
      this.queueSize = 0;
      this.closeRequested = false;
      this.pulling = false;
      this.pullAgain = false;
      this.started = false;
      this.reader = null;
      this.storedError = undefined;
      this.disturbed = false;
      this.source = {};
      this.hwm = 1;
      this.size = () => 1;
    }

    pullIfNeeded() {
      if (!this.started || this.state !== "readable" || this.closeRequested) return;
      const wanted = (this.reader && this.reader[REQUESTS].length > 0) || this.hwm - this.queueSize > 0;
      if (!wanted || typeof this.source.pull !== "function") return;
      if (this.pulling) {
        this.pullAgain = true;
        return;
      }
      this.pulling = true;
      Promise.resolve()
        .then(() => this.source.pull.call(this.source, this.controller))
        .then(
          () => {
            this.pulling = false;
            if (this.pullAgain) {
              this.pullAgain = false;
              this.pullIfNeeded();
            }
          },
          (e) => this.fail(e),
        );
    }

    finishClose() {
      if (this.state !== "readable") return;
      this.state = "closed";
      const reader = this.reader;
      if (reader) {
        for (const r of reader[REQUESTS].splice(0)) r.resolve({ value: undefined, done: true });
        reader[CLOSED].resolve(undefined);
      }
    }

    fail(reason) {
      if (this.state !== "readable") return;
      this.state = "errored";
      this.storedError = reason;
      this.queue = [];
      this.queueSize = 0;
      const reader = this.reader;
      if (reader) {
        for (const r of reader[REQUESTS].splice(0)) r.reject(reason);
        reader[CLOSED].reject(reason);
      }
    }

    read() {
      this.disturbed = true;
      if (this.state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (this.state === "errored") return Promise.reject(this.storedError);
      if (this.queue.length > 0) {
        const { chunk, size } = this.queue.shift();
        this.queueSize -= size;
        if (this.closeRequested && this.queue.length === 0) this.finishClose();
        else this.pullIfNeeded();
        return Promise.resolve({ value: chunk, done: false });
      }
      const request = resolvers();
      this.reader[REQUESTS].push(request);
      this.pullIfNeeded();
      return request.promise;
    }

    cancel(reason) {
      this.disturbed = true;
      if (this.state === "closed") return Promise.resolve();
      if (this.state === "errored") return Promise.reject(this.storedError);
      this.queue = [];
      this.queueSize = 0;
      this.finishClose();
      const cancel = this.source.cancel;
      return Promise.resolve(typeof cancel === "function" ? cancel.call(this.source, reason) : undefined).then(() => undefined);
    }
  }

  const STATE = new WeakMap(); // ReadableStream -> StreamState

  class ReadableStream {
    constructor(source = undefined, strategy = {}) {
      if (source?.type === "bytes") {
        throw new RangeError("byte streams (type: \"bytes\") are not supported; use a default stream of Uint8Array chunks");
      }
      const s = new StreamState(this);
      STATE.set(this, s);
      s.source = source ?? {};
      s.hwm = highWaterMark(strategy, 1);
      s.size = sizeAlgorithm(strategy);
      s.controller = new ReadableStreamDefaultController(PRIVATE, s);
      const start = s.source.start;
      Promise.resolve(typeof start === "function" ? start.call(s.source, s.controller) : undefined).then(
        () => {
          s.started = true;
          s.pullIfNeeded();
        },
        (e) => s.fail(e),
      );
    }

    static from(iterable) {
      const iterator = iterable[Symbol.asyncIterator]?.() ?? iterable[Symbol.iterator]();
      return new ReadableStream({
        async pull(controller) {
          const { value, done } = await iterator.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        async cancel(reason) {
          await iterator.return?.(reason);
        },
      }, { highWaterMark: 0 });
    }

    get locked() {
      return STATE.get(this).reader !== null;
    }

    cancel(reason) {
      if (this.locked) return Promise.reject(new TypeError("the stream is locked to a reader"));
      return STATE.get(this).cancel(reason);
    }

    getReader(options = {}) {
      if (options.mode === "byob") throw new TypeError("BYOB readers are not supported");
      return new ReadableStreamDefaultReader(this);
    }

    tee() {
      const reader = this.getReader();
      let branches = [];
      let reading = false;
      const pull = async () => {
        if (reading) return;
        reading = true;
        const { value, done } = await reader.read();
        reading = false;
        for (const c of branches) {
          if (c.cancelled) continue;
          if (done) c.controller.close();
          else c.controller.enqueue(value);
        }
      };
      branches = [0, 1].map(() => ({ controller: null, cancelled: false }));
      const make = (b) => new ReadableStream({
        start(controller) { b.controller = controller; },
        pull,
        cancel() {
          b.cancelled = true;
          if (branches.every((x) => x.cancelled)) return reader.cancel();
        },
      });
      return branches.map(make);
    }

    async pipeTo(destination, options = {}) {
      const reader = this.getReader();
      const writer = destination.getWriter();
      const signal = options.signal;
      try {
        for (;;) {
          if (signal?.aborted) throw signal.reason;
          const { value, done } = await reader.read();
          if (done) break;
          await writer.ready;
          await writer.write(value);
        }
        if (!options.preventClose) await writer.close();
      } catch (error) {
        if (!options.preventAbort) await writer.abort(error).catch(() => {});
        if (!options.preventCancel) await reader.cancel(error).catch(() => {});
        throw error;
      } finally {
        reader.releaseLock();
        writer.releaseLock();
      }
    }

    pipeThrough(transform, options = {}) {
      this.pipeTo(transform.writable, options).catch(() => {});
      return transform.readable;
    }

    async *values(options = {}) {
      const reader = this.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        if (!options.preventCancel) await reader.cancel().catch(() => {});
        reader.releaseLock();
      }
    }

    [Symbol.asyncIterator](options) {
      return this.values(options);
    }

    get [Symbol.toStringTag]() { return "ReadableStream"; }
  }

  class ReadableStreamDefaultReader {
    #stream;
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("expected a ReadableStream");
      const s = STATE.get(stream);
      if (s.reader) throw new TypeError("the stream is locked to a reader");
      this.#stream = stream;
      this[REQUESTS] = [];
      this[CLOSED] = resolvers();
      this[CLOSED].promise.catch(() => {});
      s.reader = this;
      if (s.state === "closed") this[CLOSED].resolve(undefined);
      if (s.state === "errored") this[CLOSED].reject(s.storedError);
    }

    get closed() { return this[CLOSED].promise; }

    read() {
      if (!this.#stream) return Promise.reject(new TypeError("the reader was released"));
      return STATE.get(this.#stream).read();
    }

    cancel(reason) {
      if (!this.#stream) return Promise.reject(new TypeError("the reader was released"));
      return STATE.get(this.#stream).cancel(reason);
    }

    releaseLock() {
      if (!this.#stream) return;
      const s = STATE.get(this.#stream);
      const error = new TypeError("the reader was released");
      for (const r of this[REQUESTS].splice(0)) r.reject(error);
      s.reader = null;
      this.#stream = null;
    }

    get [Symbol.toStringTag]() { return "ReadableStreamDefaultReader"; }
  }

  // ---- WritableStream --------------------------------------------------

  class WritableStreamDefaultController {
    #sink;
    constructor(key, sink) {
      if (key !== PRIVATE) throw new TypeError("Illegal constructor");
      this.#sink = sink;
    }
    error(reason) {
      this.#sink.fail(reason);
    }
    get signal() {
      return this.#sink.abortController.signal;
    }
  }

  class SinkState {
    constructor(sink, strategy) {
      this.sink = sink ?? {};
      this.hwm = highWaterMark(strategy, 1);
      this.size = sizeAlgorithm(strategy);
      this.queue = []; // { chunk, size, done } | { close, done }
      this.queueSize = 0;
      this.state = "writable";
      this.storedError = undefined;
      this.writing = false;
      this.started = false;
      this.writer = null;
      this.abortController = new AbortController();
      this.readyWaiters = [];
      this.closeRequested = false;
      this.closed = resolvers();
      this.closed.promise.catch(() => {});
    }

    desiredSize() {
      if (this.state === "errored") return null;
      if (this.state === "closed") return 0;
      return this.hwm - this.queueSize;
    }

    ready() {
      if (this.state === "errored") return Promise.reject(this.storedError);
      if (this.desiredSize() > 0 || this.state === "closed") return Promise.resolve();
      const waiter = resolvers();
      this.readyWaiters.push(waiter);
      return waiter.promise;
    }

    wakeReady() {
      if (this.desiredSize() > 0) for (const w of this.readyWaiters.splice(0)) w.resolve();
    }

    fail(reason) {
      if (this.state === "errored" || this.state === "closed") return;
      this.state = "errored";
      this.storedError = reason;
      for (const item of this.queue.splice(0)) item.done.reject(reason);
      for (const w of this.readyWaiters.splice(0)) w.reject(reason);
      this.closed.reject(reason);
      this.abortController.abort(reason);
    }

    advance() {
      if (!this.started || this.writing || this.queue.length === 0 || this.state !== "writable") return;
      const item = this.queue[0];
      this.writing = true;
      const op = item.close
        ? () => (typeof this.sink.close === "function" ? this.sink.close.call(this.sink) : undefined)
        : () => (typeof this.sink.write === "function" ? this.sink.write.call(this.sink, item.chunk, this.controller) : undefined);
      Promise.resolve()
        .then(op)
        .then(
          () => {
            this.writing = false;
            this.queue.shift();
            if (item.close) {
              this.state = "closed";
              this.closed.resolve();
              item.done.resolve();
              return;
            }
            this.queueSize -= item.size;
            item.done.resolve();
            this.wakeReady();
            this.advance();
          },
          (error) => {
            this.writing = false;
            this.fail(error);
            item.done.reject(error);
          },
        );
    }

    write(chunk) {
      if (this.state === "errored") return Promise.reject(this.storedError);
      if (this.closeRequested || this.state !== "writable") return Promise.reject(new TypeError("the stream is closed"));
      const size = this.size(chunk);
      const done = resolvers();
      this.queue.push({ chunk, size, done });
      this.queueSize += size;
      this.advance();
      return done.promise;
    }

    close() {
      if (this.state === "errored") return Promise.reject(this.storedError);
      if (this.closeRequested) return Promise.reject(new TypeError("the stream is already closing"));
      this.closeRequested = true;
      const done = resolvers();
      this.queue.push({ close: true, size: 0, done });
      this.advance();
      return done.promise;
    }

    abort(reason) {
      if (this.state === "closed" || this.state === "errored") return Promise.resolve();
      this.fail(reason);
      return Promise.resolve(typeof this.sink.abort === "function" ? this.sink.abort.call(this.sink, reason) : undefined).then(() => undefined);
    }
  }

  const SINKS = new WeakMap();

  class WritableStream {
    constructor(sink = undefined, strategy = {}) {
      const s = new SinkState(sink, strategy);
      SINKS.set(this, s);
      s.controller = new WritableStreamDefaultController(PRIVATE, s);
      const start = s.sink.start;
      Promise.resolve(typeof start === "function" ? start.call(s.sink, s.controller) : undefined).then(
        () => {
          s.started = true;
          s.advance();
        },
        (e) => s.fail(e),
      );
    }
    get locked() { return SINKS.get(this).writer !== null; }
    abort(reason) {
      if (this.locked) return Promise.reject(new TypeError("the stream is locked to a writer"));
      return SINKS.get(this).abort(reason);
    }
    close() {
      if (this.locked) return Promise.reject(new TypeError("the stream is locked to a writer"));
      return SINKS.get(this).close();
    }
    getWriter() {
      return new WritableStreamDefaultWriter(this);
    }
    get [Symbol.toStringTag]() { return "WritableStream"; }
  }

  class WritableStreamDefaultWriter {
    #sink;
    constructor(stream) {
      const s = SINKS.get(stream);
      if (!s) throw new TypeError("expected a WritableStream");
      if (s.writer) throw new TypeError("the stream is locked to a writer");
      s.writer = this;
      this.#sink = s;
    }
    #live() {
      if (!this.#sink) throw new TypeError("the writer was released");
      return this.#sink;
    }
    get desiredSize() { return this.#live().desiredSize(); }
    get ready() {
      try { return this.#live().ready(); } catch (e) { return Promise.reject(e); }
    }
    get closed() {
      if (!this.#sink) return Promise.reject(new TypeError("the writer was released"));
      return this.#sink.closed.promise;
    }
    write(chunk) {
      try { return this.#live().write(chunk); } catch (e) { return Promise.reject(e); }
    }
    close() {
      try { return this.#live().close(); } catch (e) { return Promise.reject(e); }
    }
    abort(reason) {
      try { return this.#live().abort(reason); } catch (e) { return Promise.reject(e); }
    }
    releaseLock() {
      if (!this.#sink) return;
      this.#sink.writer = null;
      this.#sink = null;
    }
    get [Symbol.toStringTag]() { return "WritableStreamDefaultWriter"; }
  }

  // ---- TransformStream ---------------------------------------------------

  class TransformStreamDefaultController {
    #readable;
    #fail;
    constructor(key, readable, fail) {
      if (key !== PRIVATE) throw new TypeError("Illegal constructor");
      this.#readable = readable;
      this.#fail = fail;
    }
    get desiredSize() { return this.#readable.desiredSize; }
    enqueue(chunk) { this.#readable.enqueue(chunk); }
    error(reason) { this.#fail(reason); }
    terminate() { this.#readable.close(); }
  }

  class TransformStream {
    #readable;
    #writable;
    constructor(transformer = {}, writableStrategy = {}, readableStrategy = {}) {
      let readableController;
      let backpressure = resolvers();
      this.#readable = new ReadableStream({
        start(c) { readableController = c; },
        pull() { backpressure.resolve(); },
        cancel(reason) { writableError(reason); },
      }, { highWaterMark: highWaterMark(readableStrategy, 0), size: readableStrategy.size });
      const fail = (reason) => {
        try { readableController.error(reason); } catch {}
        writableError(reason);
      };
      let writableError = () => {};
      const controller = new TransformStreamDefaultController(PRIVATE, {
        get desiredSize() { return readableController.desiredSize; },
        enqueue: (chunk) => readableController.enqueue(chunk),
        close: () => readableController.close(),
      }, fail);
      const transform = typeof transformer.transform === "function"
        ? (chunk) => transformer.transform.call(transformer, chunk, controller)
        : (chunk) => controller.enqueue(chunk);
      this.#writable = new WritableStream({
        start(c) {
          writableError = (reason) => c.error(reason);
          return typeof transformer.start === "function" ? transformer.start.call(transformer, controller) : undefined;
        },
        async write(chunk) {
          if (readableController.desiredSize <= 0) {
            await backpressure.promise;
            backpressure = resolvers();
          }
          await transform(chunk);
        },
        async close() {
          if (typeof transformer.flush === "function") await transformer.flush.call(transformer, controller);
          try { readableController.close(); } catch {}
        },
        abort(reason) { fail(reason); },
      }, writableStrategy);
    }
    get readable() { return this.#readable; }
    get writable() { return this.#writable; }
    get [Symbol.toStringTag]() { return "TransformStream"; }
  }

  // For the fetch layer: is this stream still untouched?
  platform.isDisturbed = (stream) => STATE.get(stream)?.disturbed ?? false;

  platform.define("ReadableStream", ReadableStream);
  platform.define("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  platform.define("ReadableStreamDefaultController", ReadableStreamDefaultController);
  platform.define("WritableStream", WritableStream);
  platform.define("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
  platform.define("WritableStreamDefaultController", WritableStreamDefaultController);
  platform.define("TransformStream", TransformStream);
  platform.define("TransformStreamDefaultController", TransformStreamDefaultController);
  platform.define("CountQueuingStrategy", CountQueuingStrategy);
  platform.define("ByteLengthQueuingStrategy", ByteLengthQueuingStrategy);
})
