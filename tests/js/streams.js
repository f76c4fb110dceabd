// ReadableStream, WritableStream, TransformStream and bodies as streams.
export default {
  async fetch(request) {
    const out = [];

    // Pull-based source, read with a reader and with for-await.
    let n = 0;
    const counter = () => new ReadableStream({
      pull(controller) {
        if (n < 3) controller.enqueue(++n);
        else controller.close();
      },
    });
    const reader = counter().getReader();
    const reads = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      reads.push(value);
    }
    out.push(`reader: ${reads} closed=${(await reader.closed) === undefined}`);
    n = 0;
    const iterated = [];
    for await (const v of counter()) iterated.push(v);
    out.push(`for await: ${iterated}`);

    // Locking, cancel and errors.
    const locked = new ReadableStream();
    locked.getReader();
    try {
      locked.getReader();
    } catch (e) {
      out.push(`locked: ${e.name}`);
    }
    let cancelled;
    await new ReadableStream({ cancel(reason) { cancelled = reason; } }).cancel("why");
    out.push(`cancel reason: ${cancelled}`);
    const failing = new ReadableStream({ start(c) { c.error(new Error("broken")); } });
    try {
      await failing.getReader().read();
    } catch (e) {
      out.push(`errored: ${e.message}`);
    }

    // tee, from, pipeThrough and the text streams.
    const [a, b] = ReadableStream.from(["x", "y"]).tee();
    const collect = async (s) => { const all = []; for await (const v of s) all.push(v); return all.join(""); };
    out.push(`tee: ${await collect(a)} ${await collect(b)}`);
    const upper = new TransformStream({ transform(chunk, c) { c.enqueue(String(chunk).toUpperCase()); }, flush(c) { c.enqueue("!"); } });
    out.push(`pipeThrough: ${await collect(ReadableStream.from(["ab", "cd"]).pipeThrough(upper))}`);
    const encoded = ReadableStream.from(["h\u00e9", "llo"]).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream());
    out.push(`text streams: ${await collect(encoded)}`);

    // WritableStream: backpressure and ordering.
    const written = [];
    const ws = new WritableStream({
      async write(chunk) { await null; written.push(chunk); },
      close() { written.push("closed"); },
    }, new CountQueuingStrategy({ highWaterMark: 2 }));
    const writer = ws.getWriter();
    out.push(`desiredSize: ${writer.desiredSize}`);
    writer.write("a");
    writer.write("b");
    out.push(`after two writes: ${writer.desiredSize}`);
    await writer.ready;
    await writer.close();
    out.push(`written: ${written}`);

    // Bodies as streams.
    const streamed = new Response(ReadableStream.from([new TextEncoder().encode("chunked "), "body"]));
    out.push(`response from stream: ${await streamed.text()} used=${streamed.bodyUsed}`);
    const body = new Response("bytes body").body;
    out.push(`body getter: ${body instanceof ReadableStream} ${new TextDecoder().decode((await body.getReader().read()).value)}`);
    const original = new Response(ReadableStream.from(["one ", "two"]));
    const copy = original.clone();
    out.push(`clone of a stream: ${await original.text()} | ${await copy.text()}`);
    out.push(`request body stream: ${await collect(request.body.pipeThrough(new TextDecoderStream()))}`);
    out.push(`null body: ${new Response(null).body}`);
    return new Response(out.join("\n"));
  },
};

/* expected
reader: 1,2,3 closed=true
for await: 1,2,3
locked: TypeError
cancel reason: why
errored: broken
tee: xy xy
pipeThrough: ABCD!
text streams: héllo
desiredSize: 2
after two writes: 0
written: a,b,closed
response from stream: chunked body used=true
body getter: true bytes body
clone of a stream: one two | one two
request body stream: case body
null body: null
*/
