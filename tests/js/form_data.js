// Blob, File, FormData, and formData() for multipart and urlencoded bodies.
export default {
  async fetch() {
    const out = [];
    const blob = new Blob(["ab", new Uint8Array([99]), new Blob(["d"])], { type: "Text/Plain" });
    out.push(`blob: ${blob.size} ${blob.type} ${await blob.text()} ${await blob.slice(1, -1).text()} ${await blob.slice(-2).text()}`);
    const file = new File(["contents"], "a.txt", { type: "text/plain", lastModified: 42 });
    out.push(`file: ${file.name} ${file.size} ${file.lastModified} ${file instanceof Blob}`);
    const streamed = [];
    for await (const chunk of blob.stream()) streamed.push(chunk.length);
    out.push(`blob stream: ${streamed}`);

    const form = new FormData();
    form.append("name", "ada");
    form.append("name", "grace");
    form.append("upload", file);
    form.append("raw", new Blob(["xyz"]), "raw.bin");
    form.set("single", "line1\nline2");
    out.push(`form: ${form.getAll("name")} ${form.get("upload").name} ${form.get("raw").name} ${form.has("nope")}`);

    // Round trip through a multipart body.
    const request = new Request("http://h/upload", { method: "POST", body: form });
    out.push(`content-type: ${request.headers.get("content-type").replace(/boundary=.*/, "boundary=…")}`);
    const parsed = await request.formData();
    const summary = [];
    for (const [k, v] of parsed) summary.push(typeof v === "string" ? `${k}=${JSON.stringify(v)}` : `${k}=File(${v.name},${v.type},${await v.text()})`);
    out.push(`parsed: ${summary.join(" ")}`);

    // urlencoded.
    const urlencoded = new Response(new URLSearchParams({ a: "1", b: "x y" }));
    const fields = await urlencoded.formData();
    out.push(`urlencoded: ${[...fields].map(([k, v]) => `${k}=${v}`).join("&")}`);
    try {
      await new Response("plain").formData();
    } catch (e) {
      out.push(`plain: ${e.name}`);
    }

    // Blob bodies carry their type.
    const response = new Response(new Blob(["{}"], { type: "application/json" }));
    out.push(`blob body: ${response.headers.get("content-type")} ${(await response.blob()).size}`);
    out.push(`clone blob: ${await structuredClone(blob).text()}`);
    return new Response(out.join("\n"));
  },
};

/* expected
blob: 4 text/plain abcd bc cd
file: a.txt 8 42 true
blob stream: 4
form: ada,grace a.txt raw.bin false
content-type: multipart/form-data; boundary=…
parsed: name="ada" name="grace" upload=File(a.txt,text/plain,contents) raw=File(raw.bin,application/octet-stream,xyz) single="line1\r\nline2"
urlencoded: a=1&b=x y
plain: TypeError
blob body: application/json 2
clone blob: abcd
*/
