// WHATWG URL parsing, components, setters and odd inputs.
export default {
  fetch() {
    const out = [];
    const show = (label, f) => {
      try {
        out.push(`${label}: ${f()}`);
      } catch (e) {
        out.push(`${label}: ${e.name}: ${e.message}`);
      }
    };
    const u = new URL("https://user:pa%20ss@Example.COM:8080/a/./b/../c?x=1&y=2#frag");
    show("href", () => u.href);
    show("origin", () => u.origin);
    show("parts", () => [u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash].join(" | "));
    show("default port dropped", () => new URL("http://a.com:80/").href);
    show("relative", () => new URL("../x?y#z", "http://h.com/a/b/c").href);
    show("idna", () => new URL("http://Bücher.example/").hostname);
    show("ipv4 hex", () => new URL("http://0x7f.1/").host);
    show("ipv6", () => new URL("http://[::1]:3000/").host);
    show("spaces and tabs", () => new URL("  http://h.com/a\tb  ").href);
    show("backslashes", () => new URL("http:\\\\h.com\\a\\b").href);
    show("percent", () => new URL("http://h.com/ä b?ä b#ä b").href);
    show("invalid", () => new URL("not a url"));
    show("bad base", () => new URL("/x", "also not"));
    show("canParse", () => [URL.canParse("http://x"), URL.canParse("x"), URL.canParse("x", "http://h/")].join(","));
    show("parse null", () => URL.parse("nope"));
    u.pathname = "/new path";
    u.port = "99999";
    u.hash = "";
    show("after setters", () => u.href);
    u.port = "81";
    u.protocol = "http";
    show("protocol+port", () => u.href);
    u.host = "other.org:9";
    show("host setter", () => u.href);
    show("searchParams", () => [...u.searchParams].join(";"));
    u.searchParams.append("z", "a b&c");
    show("append updates search", () => u.search);
    u.search = "?k=v";
    show("search updates params", () => u.searchParams.get("k"));
    show("json", () => JSON.stringify({ u: new URL("http://h/") }));
    show("file", () => new URL("file:///C:/x/../y").href);
    show("data", () => new URL("data:text/plain,hi").pathname);
    return new Response(out.join("\n"));
  },
};

/* expected
href: https://user:pa%20ss@example.com:8080/a/c?x=1&y=2#frag
origin: https://example.com:8080
parts: https: | user | pa%20ss | example.com:8080 | example.com | 8080 | /a/c | ?x=1&y=2 | #frag
default port dropped: http://a.com/
relative: http://h.com/a/x?y#z
idna: xn--bcher-kva.example
ipv4 hex: 127.0.0.1
ipv6: [::1]:3000
spaces and tabs: http://h.com/ab
backslashes: http://h.com/a/b
percent: http://h.com/%C3%A4%20b?%C3%A4%20b#%C3%A4%20b
invalid: TypeError: Invalid URL: "not a url"
bad base: TypeError: Invalid URL: "/x" against base "also not"
canParse: true,false,true
parse null: null
after setters: https://user:pa%20ss@example.com:8080/new%20path?x=1&y=2
protocol+port: http://user:pa%20ss@example.com:81/new%20path?x=1&y=2
host setter: http://user:pa%20ss@other.org:9/new%20path?x=1&y=2
searchParams: x,1;y,2
append updates search: ?x=1&y=2&z=a+b%26c
search updates params: v
json: {"u":"http://h/"}
file: file:///C:/y
data: text/plain,hi
*/
