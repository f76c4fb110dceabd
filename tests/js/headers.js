// Headers: case-insensitive names, sorted iteration, combining, cookies.
export default {
  async fetch(request) {
    const out = [];
    const h = new Headers({ "Content-Type": "text/plain", "X-B": "2" });
    h.append("x-a", " 1 ");
    h.append("X-A", "one more");
    h.append("Set-Cookie", "a=1");
    h.append("set-cookie", "b=2");
    out.push(`get: ${h.get("x-a")} | ${h.get("CONTENT-TYPE")} | ${h.get("nope")}`);
    out.push(`entries: ${JSON.stringify([...h])}`);
    out.push(`getSetCookie: ${JSON.stringify(h.getSetCookie())}`);
    h.delete("x-b");
    h.set("x-a", "replaced");
    out.push(`keys: ${[...h.keys()]}`);
    for (const bad of [["bad name", "v"], ["x", "a\nb"]]) {
      try {
        h.set(...bad);
      } catch (e) {
        out.push(`invalid ${JSON.stringify(bad[0])}: ${e.name}`);
      }
    }
    out.push(`from pairs: ${JSON.stringify([...new Headers([["b", "1"], ["a", "2"]])])}`);
    out.push(`request headers: ${request.headers.get("x-case")} ${request.headers.has("host")}`);
    return new Response(out.join("\n"));
  },
};

/* expected
get: 1, one more | text/plain | null
entries: [["content-type","text/plain"],["set-cookie","a=1"],["set-cookie","b=2"],["x-a","1, one more"],["x-b","2"]]
getSetCookie: ["a=1","b=2"]
keys: content-type,set-cookie,set-cookie,x-a
invalid "bad name": TypeError
invalid "x": TypeError
from pairs: [["a","2"],["b","1"]]
request headers: headers.js true
*/
