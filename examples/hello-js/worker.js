// A JavaScript tenant: an ES module whose default export has `fetch`.
export default {
  async fetch(request, env, ctx) {
    const greeting = env.GREETING ?? "Hello";
    return new Response(`${greeting} from JavaScript! You asked for ${request.method} ${request.url}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
