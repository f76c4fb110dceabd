// Request and Response basics: bodies, statuses, JSON, redirects, clones.
export default {
  async fetch(request) {
    const out = [];
    out.push(`request: ${request.method} ${request.url} ${await request.text()}`);
    out.push(`body used: ${request.bodyUsed}`);
    try {
      await request.text();
    } catch (e) {
      out.push(`second read: ${e.name}`);
    }
    const r = new Response("héllo", { status: 201, statusText: "Made", headers: { "x-h": "1" } });
    out.push(`response: ${r.status} ${r.statusText} ${r.ok} ${r.headers.get("content-type")}`);
    const clone = r.clone();
    out.push(`clone: ${await clone.text()} / ${new Uint8Array(await r.arrayBuffer()).length}`);
    const json = Response.json({ a: [1, 2] }, { status: 418 });
    out.push(`json: ${json.status} ${json.headers.get("content-type")} ${JSON.stringify(await json.json())}`);
    const redirect = Response.redirect("https://example.com/x", 301);
    out.push(`redirect: ${redirect.status} ${redirect.headers.get("location")}`);
    for (const [label, f] of [["status 99", () => new Response("", { status: 99 })], ["redirect 200", () => Response.redirect("/", 200)], ["GET body", () => new Request("http://h/", { body: "x" })], ["relative url", () => new Request("/x")]]) {
      try {
        f();
        out.push(`${label}: ok`);
      } catch (e) {
        out.push(`${label}: ${e.name}`);
      }
    }
    const form = new Response(new URLSearchParams({ a: "1 2" }));
    out.push(`form body: ${form.headers.get("content-type")} ${await form.text()}`);
    const req = new Request("http://h.com/p", { method: "post", body: "data", headers: { a: "b" } });
    out.push(`new Request: ${req.method} ${req.url} ${req.headers.get("a")} ${await req.clone().text()}`);
    return new Response(out.join("\n"));
  },
};

/* expected
request: POST http://case.test/path?q=1 case body
body used: true
second read: TypeError
response: 201 Made true text/plain;charset=UTF-8
clone: héllo / 6
json: 418 application/json {"a":[1,2]}
redirect: 301 https://example.com/x
status 99: RangeError
redirect 200: RangeError
GET body: TypeError
relative url: TypeError
form body: application/x-www-form-urlencoded;charset=UTF-8 a=1+2
new Request: POST http://h.com/p b data
*/
