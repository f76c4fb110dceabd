// A JSON API that issues and checks JWTs (HS256) with the `jose`
// library, which uses WebCrypto underneath.
import { SignJWT, jwtVerify, errors } from "jose";

const json = (data, status = 200) => Response.json(data, { status });

export default {
  async fetch(request, env) {
    const secret = new TextEncoder().encode(env.JWT_SECRET);
    const url = new URL(request.url);

    if (url.pathname === "/login" && request.method === "POST") {
      const { user } = await request.json();
      if (!user) return json({ error: "user required" }, 400);
      const token = await new SignJWT({ role: "member" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user)
        .setIssuedAt()
        .setIssuer("islet")
        .setExpirationTime("2h")
        .sign(secret);
      return json({ token });
    }

    if (url.pathname === "/me") {
      const auth = request.headers.get("authorization") ?? "";
      const token = auth.replace(/^Bearer /, "");
      try {
        const { payload, protectedHeader } = await jwtVerify(token, secret, { issuer: "islet" });
        return json({ user: payload.sub, role: payload.role, alg: protectedHeader.alg });
      } catch (e) {
        const reason = e instanceof errors.JOSEError ? e.code : e.name;
        return json({ error: "invalid token", reason }, 401);
      }
    }

    return json({ error: "not found" }, 404);
  },
};
