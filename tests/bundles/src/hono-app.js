// A small app on the Hono router: routing, params, JSON, middleware.
import { Hono } from "hono";

const app = new Hono();

app.use("*", async (c, next) => {
  await next();
  c.header("x-powered-by", "islet+hono");
});

app.get("/", (c) => c.text("hello from hono"));

app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }));

app.post("/echo", async (c) => {
  const body = await c.req.json();
  return c.json({ got: body, length: JSON.stringify(body).length }, 201);
});

app.get("/env", (c) => c.text(`greeting: ${c.env.GREETING}`));

app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));

export default app;
