/*
 * The QuickJS runtime: JavaScript module workers (`export default {
 * fetch(request, env, ctx) }`) on quickjs-ng, inside WebAssembly.
 *
 * islet compiles this module once and shares it between every tenant
 * that names `runtime = "quickjs"`; a tenant ships only its source.
 *
 *   islet_runtime_init  creates the interpreter and evaluates islet's Web
 *                       Platform layer (bindings/js, handed over by the
 *                       host): the same JS that V8 tenants run on. islet
 *                       snapshots the heap afterwards.
 *   islet_runtime_load  compiles and evaluates the tenant's module, finds
 *                       its default export and builds `env`. islet
 *                       snapshots what changed, per tenant.
 *   islet_runtime_resume  runs in every restored instance: reseeds
 *                       Math.random and sets the clock's origin.
 *   islet_handle        answers one request: builds the Request, calls
 *                       `fetch`, runs jobs, timers and fetches until the
 *                       result settles, then sends the Response.
 *
 * The platform's native operations (`ops`) are small C functions here,
 * or, for URL parsing, UTF-8 decoding and crypto, the host's own
 * implementations reached through the ABI's `op` import, so both engines
 * share one implementation. Code from strings is refused: `eval`,
 * `Function` and its async and generator variants throw EvalError.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "islet.h"
#include "quickjs.h"

ISLET_RUNTIME("quickjs", "1.0.0", "js")

#ifdef ISLET_STANDALONE
/*
 * A self-contained module for comparison (benches/runtimes.rs): the
 * platform layer and one tenant's source are compiled in, and the first
 * request initialises the interpreter and loads the source in the
 * instance itself, as a tenant that ships its own interpreter would.
 */
extern const char islet_embedded_platform[], islet_embedded_source[];
extern const size_t islet_embedded_platform_len, islet_embedded_source_len;
static int embedded_phase; /* 0: initialising (platform), 1: loading */

static char *read_source(size_t *len) {
    const char *data = embedded_phase ? islet_embedded_source : islet_embedded_platform;
    *len = embedded_phase ? islet_embedded_source_len : islet_embedded_platform_len;
    char *copy = malloc(*len + 1);
    if (copy) {
        memcpy(copy, data, *len);
        copy[*len] = '\0';
    }
    return copy;
}

static char *read_source_name(void) {
    return strdup(embedded_phase ? "worker.js" : "islet:platform");
}
#else
#define read_source islet_runtime_source
#define read_source_name islet_runtime_source_name
#endif

static JSRuntime *rt;
static JSContext *ctx;
static JSValue hooks = JS_UNDEFINED;   /* platform.hooks */
static JSValue handler = JS_UNDEFINED; /* the module's default export */
static JSValue env = JS_UNDEFINED;     /* the tenant's vars */

/* ---- Errors --------------------------------------------------------- */

/* "Name: message" and the stack of the pending exception; clears it. */
static char *exception_text(void) {
    JSValue error = JS_GetException(ctx);
    const char *text = JS_ToCString(ctx, error);
    char *out = NULL;
    if (JS_IsError(error)) {
        JSValue stack = JS_GetPropertyStr(ctx, error, "stack");
        const char *trace = JS_IsString(stack) ? JS_ToCString(ctx, stack) : NULL;
        size_t a = text ? strlen(text) : 0, b = trace ? strlen(trace) : 0;
        out = malloc(a + b + 2);
        if (out) {
            memcpy(out, text ? text : "", a);
            out[a] = '\n';
            memcpy(out + a + 1, trace ? trace : "", b);
            out[a + 1 + b] = '\0';
            while (a + 1 + b > a && out[a + b] == '\n') out[a + b--] = '\0';
        }
        if (trace) JS_FreeCString(ctx, trace);
        JS_FreeValue(ctx, stack);
    } else {
        out = strdup(text ? text : "(an exception that cannot be printed)");
    }
    if (text) JS_FreeCString(ctx, text);
    JS_FreeValue(ctx, error);
    return out;
}

static void fail_with_exception(int kind) {
    char *text = exception_text();
    if (text) {
        islet_fail(kind, text, strlen(text));
        free(text);
    } else {
        islet_fail(kind, "out of memory", 13);
    }
}

static void fail_text(int kind, const char *text) {
    islet_fail(kind, text, strlen(text));
}

/* ---- Byte helpers --------------------------------------------------- */

/* The bytes of a typed array, DataView or ArrayBuffer; NULL otherwise. */
static uint8_t *view_bytes(JSValueConst value, size_t *len) {
    size_t size;
    uint8_t *data = JS_GetArrayBuffer(ctx, &size, value);
    if (data) {
        *len = size;
        return data;
    }
    JS_FreeValue(ctx, JS_GetException(ctx));
    size_t offset, length, per;
    JSValue buffer = JS_GetTypedArrayBuffer(ctx, value, &offset, &length, &per);
    if (JS_IsException(buffer)) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        /* A DataView. */
        JSValue b = JS_GetPropertyStr(ctx, value, "buffer");
        JSValue o = JS_GetPropertyStr(ctx, value, "byteOffset");
        JSValue l = JS_GetPropertyStr(ctx, value, "byteLength");
        uint8_t *out = NULL;
        int64_t off = 0, n = 0;
        if (JS_IsObject(b) && !JS_ToInt64(ctx, &off, o) && !JS_ToInt64(ctx, &n, l)) {
            size_t total;
            uint8_t *all = JS_GetArrayBuffer(ctx, &total, b);
            if (all && off >= 0 && n >= 0 && (size_t)(off + n) <= total) {
                out = all + off;
                *len = (size_t)n;
            } else {
                JS_FreeValue(ctx, JS_GetException(ctx));
            }
        }
        JS_FreeValue(ctx, b);
        JS_FreeValue(ctx, o);
        JS_FreeValue(ctx, l);
        return out;
    }
    data = JS_GetArrayBuffer(ctx, &size, buffer);
    JS_FreeValue(ctx, buffer);
    if (!data) return NULL;
    *len = length;
    return data + offset;
}

static JSValue new_bytes(const void *data, size_t len) {
    return JS_NewUint8ArrayCopy(ctx, data, len);
}

/* ---- Encoding values for the host's ops (bindings/src/ops.rs) -------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const void *data, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void put_tag_len(buf_t *b, uint8_t tag, uint32_t n) {
    uint8_t head[5] = {tag, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24};
    put(b, head, 5);
}

/* Encodes `value`; false (with a pending TypeError) if it cannot be. */
static bool encode(buf_t *b, JSValueConst value, int depth) {
    if (depth > 8) {
        JS_ThrowTypeError(ctx, "op arguments nest too deeply");
        return false;
    }
    if (JS_IsNull(value) || JS_IsUndefined(value)) {
        put(b, "\0", 1);
    } else if (JS_IsBool(value)) {
        put(b, JS_ToBool(ctx, value) ? "\2" : "\1", 1);
    } else if (JS_IsNumber(value)) {
        double d;
        JS_ToFloat64(ctx, &d, value);
        put(b, "\3", 1);
        put(b, &d, 8); /* wasm is little-endian */
    } else if (JS_IsString(value)) {
        size_t n;
        const char *s = JS_ToCStringLen(ctx, &n, value);
        if (!s) return false;
        put_tag_len(b, 4, (uint32_t)n);
        put(b, s, n);
        JS_FreeCString(ctx, s);
    } else if (JS_IsArray(value)) {
        int64_t n;
        if (JS_GetLength(ctx, value, &n)) return false;
        put_tag_len(b, 6, (uint32_t)n);
        for (int64_t i = 0; i < n; i++) {
            JSValue item = JS_GetPropertyInt64(ctx, value, i);
            bool ok = encode(b, item, depth + 1);
            JS_FreeValue(ctx, item);
            if (!ok) return false;
        }
    } else {
        size_t n;
        uint8_t *bytes = view_bytes(value, &n);
        if (!bytes) {
            JS_ThrowTypeError(ctx, "an op argument is not a string, number, array or bytes");
            return false;
        }
        put_tag_len(b, 5, (uint32_t)n);
        put(b, bytes, n);
    }
    if (b->failed) {
        JS_ThrowOutOfMemory(ctx);
        return false;
    }
    return true;
}

static uint32_t get_u32(const uint8_t *p) {
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Decodes a value the host encoded (trusted, but bounds are checked). */
static JSValue decode(const uint8_t **at, const uint8_t *end) {
    if (*at >= end) return JS_ThrowTypeError(ctx, "truncated op result");
    uint8_t tag = *(*at)++;
    uint32_t n = 0;
    if (tag >= 4 && tag <= 6) {
        if (end - *at < 4) return JS_ThrowTypeError(ctx, "truncated op result");
        n = get_u32(*at);
        *at += 4;
        if (tag != 6 && (size_t)(end - *at) < n)
            return JS_ThrowTypeError(ctx, "truncated op result");
    }
    switch (tag) {
    case 0: return JS_NULL;
    case 1: return JS_FALSE;
    case 2: return JS_TRUE;
    case 3: {
        double d;
        if (end - *at < 8) return JS_ThrowTypeError(ctx, "truncated op result");
        memcpy(&d, *at, 8);
        *at += 8;
        return JS_NewFloat64(ctx, d);
    }
    case 4: {
        JSValue s = JS_NewStringLen(ctx, (const char *)*at, n);
        *at += n;
        return s;
    }
    case 5: {
        JSValue v = new_bytes(*at, n);
        *at += n;
        return v;
    }
    case 6: {
        JSValue array = JS_NewArray(ctx);
        for (uint32_t i = 0; i < n; i++) {
            JSValue item = decode(at, end);
            if (JS_IsException(item)) {
                JS_FreeValue(ctx, array);
                return item;
            }
            JS_SetPropertyUint32(ctx, array, i, item);
        }
        return array;
    }
    default: return JS_ThrowTypeError(ctx, "malformed op result");
    }
}

/* An op the host implements: `data[0]` is its name. */
static JSValue host_op(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv,
                       int magic, JSValueConst *data) {
    (void)this_val;
    (void)magic;
    buf_t args = {0};
    put_tag_len(&args, 6, (uint32_t)argc);
    for (int i = 0; i < argc; i++) {
        if (!encode(&args, argv[i], 1)) {
            free(args.data);
            return JS_EXCEPTION;
        }
    }
    const char *name = JS_ToCString(c, data[0]);
    char *out = NULL;
    size_t out_len = 0;
    int rc = islet_op(name, args.data, args.len, &out, &out_len);
    JS_FreeCString(c, name);
    free(args.data);
    if (!out) return JS_ThrowOutOfMemory(c);
    const uint8_t *at = (const uint8_t *)out;
    JSValue result = decode(&at, at + out_len);
    free(out);
    if (rc == 0 || JS_IsException(result)) return result;
    /* [kind, message] */
    JSValue kind = JS_GetPropertyUint32(c, result, 0);
    JSValue message = JS_GetPropertyUint32(c, result, 1);
    const char *k = JS_ToCString(c, kind);
    const char *m = JS_ToCString(c, message);
    JSValue thrown;
    if (k && strcmp(k, "TypeError") == 0) {
        thrown = JS_ThrowTypeError(c, "%s", m ? m : "");
    } else {
        JSValue error = JS_NewError(c);
        JS_SetPropertyStr(c, error, "message", JS_NewString(c, m ? m : ""));
        thrown = JS_Throw(c, error);
    }
    if (k) JS_FreeCString(c, k);
    if (m) JS_FreeCString(c, m);
    JS_FreeValue(c, kind);
    JS_FreeValue(c, message);
    JS_FreeValue(c, result);
    return thrown;
}

/* ---- The event loop's queue ----------------------------------------- */

/* Host completions waiting to be delivered to JS: a hook name and its
 * arguments. They run after the microtasks of the current turn. */
typedef struct completion {
    const char *hook;
    int argc;
    JSValue argv[7];
    int32_t fetch_id; /* for fetchCancel; 0 if none */
    struct completion *next;
} completion;

static completion *queue_head, *queue_tail;

static void enqueue(const char *hook, int argc, JSValue *argv, int32_t fetch_id) {
    completion *c = calloc(1, sizeof *c);
    if (!c) {
        for (int i = 0; i < argc; i++) JS_FreeValue(ctx, argv[i]);
        return;
    }
    c->hook = hook;
    c->argc = argc;
    for (int i = 0; i < argc; i++) c->argv[i] = argv[i];
    c->fetch_id = fetch_id;
    if (queue_tail) queue_tail->next = c;
    else queue_head = c;
    queue_tail = c;
}

static void free_completion(completion *c) {
    for (int i = 0; i < c->argc; i++) JS_FreeValue(ctx, c->argv[i]);
    free(c);
}

/* ---- Timers --------------------------------------------------------- */

typedef struct {
    int32_t id;
    double due; /* ms on the virtual clock */
    bool live;
} timer_t_;

#define MAX_TIMERS 1024
static timer_t_ timers[MAX_TIMERS];
static int32_t next_timer_id = 1;
static bool in_request; /* timers started outside a request never fire */

/* Milliseconds since the epoch: the host's frozen clock (it moves only
 * between I/O events), pushed forward as timers fire. */
static double virtual_now;

static double clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double host = (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000000);
    if (host > virtual_now) virtual_now = host;
    return virtual_now;
}

static JSValue op_timer_start(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    double ms = 0;
    if (argc > 0) JS_ToFloat64(c, &ms, argv[0]);
    if (!(ms >= 0)) ms = 0;
    int32_t id = 0;
    if (argc > 1 && !JS_IsUndefined(argv[1])) JS_ToInt32(c, &id, argv[1]);
    if (id == 0) id = next_timer_id++;
    if (!in_request) return JS_NewInt32(c, id);
    for (int i = 0; i < MAX_TIMERS; i++) {
        if (!timers[i].live) {
            timers[i] = (timer_t_){.id = id, .due = clock_ms() + ms, .live = true};
            return JS_NewInt32(c, id);
        }
    }
    return JS_ThrowRangeError(c, "too many timers (at most %d at once)", MAX_TIMERS);
}

static JSValue op_timer_cancel(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    int32_t id = 0;
    if (argc > 0) JS_ToInt32(c, &id, argv[0]);
    for (int i = 0; i < MAX_TIMERS; i++)
        if (timers[i].live && timers[i].id == id) timers[i].live = false;
    return JS_UNDEFINED;
}

/* ---- Local ops ------------------------------------------------------ */

static JSValue op_utf8_encode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t n;
    const char *s = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
    if (!s) return JS_EXCEPTION;
    JSValue out = new_bytes(s, n);
    JS_FreeCString(c, s);
    /* QuickJS writes a lone surrogate as its 3-byte WTF-8 form (ED A0..BF
     * xx); UTF-8 has U+FFFD (EF BF BD) there, of the same length. */
    size_t len;
    uint8_t *bytes = JS_IsException(out) ? NULL : view_bytes(out, &len);
    for (size_t i = 0; bytes && i + 2 < len; i++) {
        if (bytes[i] == 0xED && bytes[i + 1] >= 0xA0) {
            bytes[i] = 0xEF;
            bytes[i + 1] = 0xBF;
            bytes[i + 2] = 0xBD;
            i += 2;
        }
    }
    return out;
}

static JSValue op_log(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    int32_t level = 1;
    if (argc > 0) JS_ToInt32(c, &level, argv[0]);
    const char *text = JS_ToCString(c, argc > 1 ? argv[1] : JS_UNDEFINED);
    if (!text) return JS_EXCEPTION;
    islet_log(level, "%s", text);
    JS_FreeCString(c, text);
    return JS_UNDEFINED;
}

static JSValue op_now(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    (void)argc;
    (void)argv;
    return JS_NewFloat64(c, clock_ms());
}

static JSValue op_random_fill(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t n;
    uint8_t *bytes = argc > 0 ? view_bytes(argv[0], &n) : NULL;
    if (!bytes) return JS_ThrowTypeError(c, "randomFill expects a Uint8Array");
    islet_random(bytes, n);
    return JS_DupValue(c, argv[0]);
}

static JSValue flat_headers(char *lines);

static int32_t next_fetch_id = 1;

/* `fetchStart(method, url, flatHeaders, body, redirect)`: the ABI's fetch
 * waits for the response, so the result is queued for the next turn. */
static JSValue op_fetch_start(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    if (argc < 5) return JS_ThrowTypeError(c, "fetchStart needs 5 arguments");
    const char *redirect = JS_ToCString(c, argv[4]);
    bool follow = redirect && strcmp(redirect, "follow") == 0;
    if (redirect) JS_FreeCString(c, redirect);
    if (!follow)
        return JS_ThrowTypeError(c, "fetch: only redirect: \"follow\" is supported on the "
                                    "QuickJS runtime");
    const char *method = JS_ToCString(c, argv[0]);
    const char *url = JS_ToCString(c, argv[1]);
    buf_t headers = {0};
    int64_t n = 0;
    JS_GetLength(c, argv[2], &n);
    for (int64_t i = 0; i + 1 < n; i += 2) {
        JSValue k = JS_GetPropertyInt64(c, argv[2], i);
        JSValue v = JS_GetPropertyInt64(c, argv[2], i + 1);
        size_t kl, vl;
        const char *ks = JS_ToCStringLen(c, &kl, k);
        const char *vs = JS_ToCStringLen(c, &vl, v);
        if (ks && vs) {
            put(&headers, ks, kl);
            put(&headers, ": ", 2);
            put(&headers, vs, vl);
            put(&headers, "\n", 1);
        }
        if (ks) JS_FreeCString(c, ks);
        if (vs) JS_FreeCString(c, vs);
        JS_FreeValue(c, k);
        JS_FreeValue(c, v);
    }
    put(&headers, "", 1);
    size_t body_len = 0;
    uint8_t *body = view_bytes(argv[3], &body_len);
    islet_fetch_response response;
    int rc = islet_fetch(method ? method : "GET", url ? url : "", (char *)headers.data, body,
                         body ? body_len : 0, &response);
    free(headers.data);
    int32_t id = next_fetch_id++;
    if (rc == ISLET_DENIED || rc == ISLET_INVALID) {
        char *why = islet_last_error();
        JSValue e = JS_ThrowTypeError(c, "%s", why ? why : "fetch refused");
        free(why);
        if (method) JS_FreeCString(c, method);
        if (url) JS_FreeCString(c, url);
        return e;
    }
    if (rc != 0) {
        char *why = islet_last_error();
        JSValue args[2] = {JS_NewInt32(c, id), JS_NewString(c, why ? why : "fetch failed")};
        free(why);
        enqueue("fetchFailed", 2, args, id);
    } else {
        char *lines = islet_fetch_headers(&response);
        JSValue flat = flat_headers(lines);
        free(lines);
        size_t len = 0;
        char *data = islet_fetch_body(&response, &len);
        JSValue args[7] = {
            JS_NewInt32(c, id),
            JS_NewInt32(c, response.status),
            JS_NewString(c, ""),
            flat,
            new_bytes(data ? data : "", data ? len : 0),
            JS_NewString(c, url ? url : ""),
            JS_FALSE,
        };
        free(data);
        islet_fetch_close(&response);
        enqueue("fetchDone", 7, args, id);
    }
    if (method) JS_FreeCString(c, method);
    if (url) JS_FreeCString(c, url);
    return JS_NewInt32(c, id);
}

static JSValue op_fetch_cancel(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    int32_t id = 0;
    if (argc > 0) JS_ToInt32(c, &id, argv[0]);
    completion **at = &queue_head, *prev = NULL;
    while (*at) {
        completion *item = *at;
        if (item->fetch_id == id) {
            *at = item->next;
            if (queue_tail == item) queue_tail = prev;
            free_completion(item);
        } else {
            prev = item;
            at = &item->next;
        }
    }
    return JS_UNDEFINED;
}

static int32_t next_write_id = 1;

/* `bodyWrite(bytes) -> id`: the chunk goes to the client now (the host
 * waits while the client is behind); `bodyWritten` follows. */
static JSValue op_body_write(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    size_t n = 0;
    uint8_t *bytes = argc > 0 ? view_bytes(argv[0], &n) : NULL;
    if (!bytes) return JS_ThrowTypeError(c, "bodyWrite expects bytes");
    int rc = islet_response_write(bytes, n);
    int32_t id = next_write_id++;
    JSValue args[2] = {JS_NewInt32(c, id), JS_NewBool(c, rc == 0)};
    enqueue("bodyWritten", 2, args, 0);
    return JS_NewInt32(c, id);
}

static JSValue op_nothing(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)c;
    (void)this_val;
    (void)argc;
    (void)argv;
    return JS_UNDEFINED;
}

/* Request bodies up to this size are read whole before the handler runs;
 * larger ones, and those of unknown length, stream (as on V8). */
#define WHOLE_BODY_MAX (64 * 1024)
#define BODY_CHUNK (64 * 1024)

static int32_t next_read_id = 1;
static bool body_done;

/* `bodyRead() -> id`: reads the next chunk of the request body (the host
 * waits for the client); `bodyChunk(id, bytes | null)` follows. */
static JSValue op_body_read(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    (void)argc;
    (void)argv;
    int32_t id = next_read_id++;
    JSValue chunk = JS_NULL;
    if (!body_done) {
        uint8_t *buf = malloc(BODY_CHUNK);
        if (!buf) return JS_ThrowOutOfMemory(c);
        long n = islet_request_body_read(buf, BODY_CHUNK);
        if (n > 0) chunk = new_bytes(buf, (size_t)n);
        else body_done = true;
        free(buf);
    }
    JSValue args[2] = {JS_NewInt32(c, id), chunk};
    enqueue("bodyChunk", 2, args, 0);
    return JS_NewInt32(c, id);
}

/* `bodyCancel()`: the tenant does not want the rest. */
static JSValue op_body_cancel(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)c;
    (void)this_val;
    (void)argc;
    (void)argv;
    body_done = true;
    return JS_UNDEFINED;
}

/* ---- Math.random, reseeded per instance ------------------------------ */

static uint64_t random_state[2];
static bool random_seeded;

static JSValue math_random(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    (void)argc;
    (void)argv;
    if (!random_seeded) {
        islet_random(random_state, sizeof random_state);
        random_state[0] |= 1;
        random_seeded = true;
    }
    /* xorshift128+ */
    uint64_t s1 = random_state[0], s0 = random_state[1];
    random_state[0] = s0;
    s1 ^= s1 << 23;
    random_state[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    uint64_t bits = (random_state[1] + s0) >> 11;
    return JS_NewFloat64(c, (double)bits / 9007199254740992.0);
}

/* ---- Initialisation --------------------------------------------------- */

static void add_op(JSValue ops, const char *name, JSCFunction *fn, int length) {
    JS_SetPropertyStr(ctx, ops, name, JS_NewCFunction(ctx, fn, name, length));
}

static const char *const HOST_OPS[] = {
    "utf8Decode", "urlParse",  "urlSet",    "digest",         "hmacSign",
    "hmacVerify", "aesGcm",    "ecFromJwk", "ecFromRaw",      "ecFromDer",
    "ecGenerate", "ecToJwk",   "ecToRaw",   "ecdsaSign",      "ecdsaVerify",
    "rsaFromJwk", "rsaFromDer", "rsaSign",  "rsaPublicParts", "rsaVerify",
};

/* What V8 refuses through its code-generation callback, refused here in
 * JS: code from strings, and WebAssembly compiled at run time. */
static const char LOCKDOWN[] =
    "(() => {\n"
    "  const refuse = (what) => function () {\n"
    "    throw new EvalError(`${what} is not allowed: islet runs no code from strings`);\n"
    "  };\n"
    "  const kinds = [\n"
    "    ['Function', Function.prototype],\n"
    "    ['AsyncFunction', Object.getPrototypeOf(async function () {})],\n"
    "    ['GeneratorFunction', Object.getPrototypeOf(function* () {})],\n"
    "    ['AsyncGeneratorFunction', Object.getPrototypeOf(async function* () {})],\n"
    "  ];\n"
    "  for (const [name, proto] of kinds) {\n"
    "    const ctor = refuse(`new ${name}()`);\n"
    "    Object.defineProperty(ctor, 'name', { value: name });\n"
    "    Object.defineProperty(ctor, 'prototype', { value: proto });\n"
    "    Object.defineProperty(proto, 'constructor', { value: ctor, writable: true, configurable: true });\n"
    "    if (name === 'Function') Object.defineProperty(globalThis, 'Function', { value: ctor, writable: true, configurable: true });\n"
    "  }\n"
    "  delete globalThis.SharedArrayBuffer;\n"
    "  Object.defineProperty(globalThis, 'eval', { value: refuse('eval()'), writable: true, configurable: true });\n"
    "  class CompileError extends Error {}\n"
    "  Object.defineProperty(CompileError.prototype, 'name', { value: 'CompileError' });\n"
    "  const noWasm = () => { throw new CompileError('WebAssembly compiled at run time is not allowed'); };\n"
    "  const WebAssembly = {\n"
    "    CompileError,\n"
    "    Module: function Module() { noWasm(); },\n"
    "    Instance: function Instance() { noWasm(); },\n"
    "    compile: async () => noWasm(),\n"
    "    instantiate: async () => noWasm(),\n"
    "    validate: () => false,\n"
    "  };\n"
    "  Object.defineProperty(globalThis, 'WebAssembly', { value: WebAssembly, writable: true, configurable: true });\n"
    "})();\n";

/* Runs every pending job; an exception in one is logged. */
static void run_jobs(void) {
    for (;;) {
        JSContext *job_ctx;
        int rc = JS_ExecutePendingJob(rt, &job_ctx);
        if (rc == 0) return;
        if (rc < 0) {
            char *text = exception_text();
            islet_log(ISLET_ERROR, "uncaught exception in a job: %s", text ? text : "?");
            free(text);
        }
    }
}

/* Promises rejected with no handler yet. A handler may still come in the
 * same turn (`await` attaches one a little later), so they are reported
 * only when the jobs have run out and they are still unhandled. */
#define MAX_REJECTIONS 64
static JSValue rejected[MAX_REJECTIONS], reasons[MAX_REJECTIONS];
static int rejected_count;

static void track_rejection(JSContext *c, JSValueConst promise, JSValueConst reason,
                            bool is_handled, void *opaque) {
    (void)opaque;
    if (!is_handled) {
        if (rejected_count < MAX_REJECTIONS) {
            rejected[rejected_count] = JS_DupValue(c, promise);
            reasons[rejected_count++] = JS_DupValue(c, reason);
        }
        return;
    }
    for (int i = 0; i < rejected_count; i++) {
        if (JS_VALUE_GET_PTR(rejected[i]) == JS_VALUE_GET_PTR(promise)) {
            JS_FreeValue(c, rejected[i]);
            JS_FreeValue(c, reasons[i]);
            rejected[i] = rejected[--rejected_count];
            reasons[i] = reasons[rejected_count];
            return;
        }
    }
}

static void report_rejections(void) {
    for (int i = 0; i < rejected_count; i++) {
        JSValue reason = reasons[i];
        const char *text = JS_ToCString(ctx, reason);
        JSValue stack = JS_IsError(reason) ? JS_GetPropertyStr(ctx, reason, "stack") : JS_UNDEFINED;
        const char *trace = JS_IsString(stack) ? JS_ToCString(ctx, stack) : NULL;
        islet_log(ISLET_ERROR, "unhandled promise rejection: %s%s%s", text ? text : "?",
                  trace ? "\n" : "", trace ? trace : "");
        if (text) JS_FreeCString(ctx, text);
        if (trace) JS_FreeCString(ctx, trace);
        JS_FreeValue(ctx, stack);
        JS_FreeValue(ctx, rejected[i]);
        JS_FreeValue(ctx, reason);
    }
    rejected_count = 0;
}

__attribute__((export_name("islet_runtime_init"))) void islet_runtime_init(void) {
    rt = JS_NewRuntime();
    if (!rt) {
        fail_text(ISLET_FAIL_EXCEPTION, "cannot create the QuickJS runtime");
        return;
    }
    /* The C stack is 1 MiB (see build.sh); leave room for C frames. */
    JS_SetMaxStackSize(rt, 768 * 1024);
    JS_SetHostPromiseRejectionTracker(rt, track_rejection, NULL);
    ctx = JS_NewContext(rt);

    JSValue global = JS_GetGlobalObject(ctx);
    JSValue math = JS_GetPropertyStr(ctx, global, "Math");
    JS_SetPropertyStr(ctx, math, "random", JS_NewCFunction(ctx, math_random, "random", 0));
    JS_FreeValue(ctx, math);

    JSValue ops = JS_NewObject(ctx);
    add_op(ops, "utf8Encode", op_utf8_encode, 1);
    add_op(ops, "log", op_log, 2);
    add_op(ops, "now", op_now, 0);
    add_op(ops, "timerStart", op_timer_start, 2);
    add_op(ops, "timerCancel", op_timer_cancel, 1);
    add_op(ops, "randomFill", op_random_fill, 1);
    add_op(ops, "fetchStart", op_fetch_start, 5);
    add_op(ops, "fetchCancel", op_fetch_cancel, 1);
    add_op(ops, "waitUntilUsed", op_nothing, 0);
    add_op(ops, "bodyWrite", op_body_write, 1);
    add_op(ops, "bodyRead", op_body_read, 0);
    add_op(ops, "bodyCancel", op_body_cancel, 0);
    for (size_t i = 0; i < sizeof HOST_OPS / sizeof *HOST_OPS; i++) {
        JSValue name = JS_NewString(ctx, HOST_OPS[i]);
        JS_SetPropertyStr(ctx, ops, HOST_OPS[i],
                          JS_NewCFunctionData(ctx, host_op, 0, 0, 1, &name));
        JS_FreeValue(ctx, name);
    }

    /* The platform layer: one script whose value is the array of its
     * files' functions, each called with (ops, platform). */
    size_t len = 0;
    char *source = read_source(&len);
    char *name = read_source_name();
    JSValue files = JS_Eval(ctx, source ? source : "[]", source ? len : 2,
                            name ? name : "islet:platform", JS_EVAL_TYPE_GLOBAL);
    free(source);
    free(name);
    if (JS_IsException(files)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    JSValue platform = JS_NewObject(ctx);
    int64_t count = 0;
    JS_GetLength(ctx, files, &count);
    for (int64_t i = 0; i < count; i++) {
        JSValue file = JS_GetPropertyInt64(ctx, files, i);
        JSValue args[2] = {ops, platform};
        JSValue r = JS_Call(ctx, file, JS_UNDEFINED, 2, args);
        JS_FreeValue(ctx, file);
        if (JS_IsException(r)) {
            fail_with_exception(ISLET_FAIL_EXCEPTION);
            return;
        }
        JS_FreeValue(ctx, r);
    }
    JS_FreeValue(ctx, files);
    hooks = JS_GetPropertyStr(ctx, platform, "hooks");
    JS_FreeValue(ctx, platform);
    JS_FreeValue(ctx, ops);

    JSValue r = JS_Eval(ctx, LOCKDOWN, sizeof LOCKDOWN - 1, "islet:lockdown", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(r)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, global);
    run_jobs();
}

/* ---- Loading the tenant --------------------------------------------- */

static JSValue call_hook(const char *name, int argc, JSValue *argv) {
    JSValue fn = JS_GetPropertyStr(ctx, hooks, name);
    JSValue r = JS_Call(ctx, fn, hooks, argc, argv);
    JS_FreeValue(ctx, fn);
    return r;
}

/* Runs jobs until `promise` settles or nothing is left to run. */
static JSPromiseStateEnum settle(JSValueConst promise);

__attribute__((export_name("islet_runtime_load"))) void islet_runtime_load(void) {
    size_t len = 0;
    char *source = read_source(&len);
    char *name = read_source_name();
    if (!source || !name) {
        fail_text(ISLET_FAIL_EXCEPTION, "out of memory while reading the source");
        return;
    }
    JSValue module = JS_Eval(ctx, source, len, name,
                             JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    free(source);
    free(name);
    if (JS_IsException(module)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    JSModuleDef *def = JS_VALUE_GET_PTR(module);
    JSValue done = JS_EvalFunction(ctx, module);
    if (JS_IsException(done)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    if (settle(done) == JS_PROMISE_REJECTED) {
        JS_Throw(ctx, JS_PromiseResult(ctx, done));
        JS_FreeValue(ctx, done);
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    JS_FreeValue(ctx, done);
    JSValue ns = JS_GetModuleNamespace(ctx, def);
    handler = JS_GetPropertyStr(ctx, ns, "default");
    JS_FreeValue(ctx, ns);
    JSValue fetch = JS_GetPropertyStr(ctx, handler, "fetch");
    bool ok = JS_IsFunction(ctx, fetch);
    JS_FreeValue(ctx, fetch);
    if (!ok) {
        fail_text(ISLET_FAIL_EXCEPTION,
                  "the module has no default export with a `fetch` method "
                  "(`export default { fetch(request, env, ctx) { ... } }`)");
        return;
    }

    env = JS_NewObject(ctx);
    char *names = islet_env_names();
    for (char *n = names; n && *n;) {
        char *end = strchr(n, '\n');
        if (end) *end = '\0';
        char *value = islet_env(n);
        if (value) JS_SetPropertyStr(ctx, env, n, JS_NewString(ctx, value));
        free(value);
        if (!end) break;
        n = end + 1;
    }
    free(names);
    JS_FreeValue(ctx, JS_GetException(ctx));
    run_jobs();
    report_rejections();
}

__attribute__((export_name("islet_runtime_resume"))) void islet_runtime_resume(void) {
    /* A collection writes to every object it visits, which would copy the
     * whole shared heap into this instance: leave a tenant 1 MiB of
     * allocation before its first one. */
    JS_SetGCThreshold(rt, JS_GetGCThreshold(rt) + (1 << 20));
    random_seeded = false;
    virtual_now = 0;
    JSValue r = call_hook("initContext", 0, NULL);
    JS_FreeValue(ctx, r);
    JS_FreeValue(ctx, JS_GetException(ctx));
}

/* ---- The event loop ------------------------------------------------- */

static JSPromiseStateEnum settle(JSValueConst promise) {
    for (;;) {
        run_jobs();
        JSPromiseStateEnum state = JS_PromiseState(ctx, promise);
        if (state != JS_PROMISE_PENDING) return state;
        if (queue_head) {
            completion *c = queue_head;
            queue_head = c->next;
            if (!queue_head) queue_tail = NULL;
            JSValue r = call_hook(c->hook, c->argc, c->argv);
            if (JS_IsException(r)) {
                char *text = exception_text();
                islet_log(ISLET_ERROR, "uncaught exception: %s", text ? text : "?");
                free(text);
            }
            JS_FreeValue(ctx, r);
            free_completion(c);
            continue;
        }
        int next = -1;
        for (int i = 0; i < MAX_TIMERS; i++)
            if (timers[i].live && (next < 0 || timers[i].due < timers[next].due)) next = i;
        if (next >= 0) {
            double wait = timers[next].due - clock_ms();
            if (wait > 0) {
                struct timespec ts = {(time_t)(wait / 1e3),
                                      (long)((wait - (double)(time_t)(wait / 1e3) * 1e3) * 1e6)};
                nanosleep(&ts, NULL);
                virtual_now = timers[next].due;
            }
            timers[next].live = false;
            JSValue id = JS_NewInt32(ctx, timers[next].id);
            JSValue r = call_hook("fireTimer", 1, &id);
            if (JS_IsException(r)) {
                char *text = exception_text();
                islet_log(ISLET_ERROR, "uncaught exception in a timer: %s", text ? text : "?");
                free(text);
            }
            JS_FreeValue(ctx, r);
            continue;
        }
        return JS_PROMISE_PENDING;
    }
}

/* Headers as "name: value\n" lines -> flat [name, value, ...]. */
static JSValue flat_headers(char *lines) {
    JSValue flat = JS_NewArray(ctx);
    uint32_t k = 0;
    for (char *line = lines; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *colon = strstr(line, ": ");
        if (colon) {
            *colon = '\0';
            JS_SetPropertyUint32(ctx, flat, k++, JS_NewString(ctx, line));
            JS_SetPropertyUint32(ctx, flat, k++, JS_NewString(ctx, colon + 2));
        }
        if (!end) break;
        line = end + 1;
    }
    return flat;
}

/* Settles `value` (a promise or not) and returns its value, or fails the
 * request and returns JS_EXCEPTION. */
static JSValue await_value(JSValue value) {
    if (JS_PromiseState(ctx, value) < 0) return value; /* not a promise */
    JSPromiseStateEnum state = settle(value);
    if (state == JS_PROMISE_PENDING) {
        JS_FreeValue(ctx, value);
        fail_text(ISLET_FAIL_STALLED, "the handler's promise never settled");
        return JS_EXCEPTION;
    }
    JSValue result = JS_PromiseResult(ctx, value);
    JS_FreeValue(ctx, value);
    if (state == JS_PROMISE_REJECTED) {
        JS_Throw(ctx, result);
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return JS_EXCEPTION;
    }
    return result;
}

static void clear_request_state(void) {
    for (int i = 0; i < MAX_TIMERS; i++) timers[i].live = false;
    while (queue_head) {
        completion *c = queue_head;
        queue_head = c->next;
        free_completion(c);
    }
    queue_tail = NULL;
    in_request = false;
}

static void handle(void) {
    in_request = true;
    clock_ms();
    char *method = islet_request_method();
    char *url = islet_request_url();
    char *header_lines = islet_request_headers();
    size_t body_len = 0;
    char *body = NULL;
    bool streamed = false;
    body_done = false;
    if (method && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        char *length = islet_request_header("content-length");
        streamed = !length || strtoull(length, NULL, 10) > WHOLE_BODY_MAX;
        free(length);
        if (!streamed) body = islet_request_body(&body_len);
    }
    JSValue args[4] = {
        JS_NewString(ctx, method ? method : "GET"),
        JS_NewString(ctx, url ? url : ""),
        flat_headers(header_lines),
        streamed ? JS_TRUE : new_bytes(body ? body : "", body ? body_len : 0),
    };
    free(method);
    free(url);
    free(header_lines);
    free(body);
    JSValue request = call_hook("makeRequest", 4, args);
    for (int i = 0; i < 4; i++) JS_FreeValue(ctx, args[i]);
    if (JS_IsException(request)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        return;
    }
    JSValue context = call_hook("makeContext", 0, NULL);
    JSValue fetch = JS_GetPropertyStr(ctx, handler, "fetch");
    JSValue call_args[3] = {request, env, context};
    JSValue result = JS_Call(ctx, fetch, handler, 3, call_args);
    JS_FreeValue(ctx, fetch);
    JS_FreeValue(ctx, request);
    if (JS_IsException(result)) {
        fail_with_exception(ISLET_FAIL_EXCEPTION);
        JS_FreeValue(ctx, context);
        return;
    }
    JSValue response = await_value(result);
    if (JS_IsException(response)) {
        JS_FreeValue(ctx, context);
        return;
    }
    JSValue parts = call_hook("readResponse", 1, &response);
    JS_FreeValue(ctx, response);
    if (JS_IsException(parts)) {
        char *text = exception_text();
        /* "TypeError: the handler returned X, not a Response" */
        const char *what = text ? strstr(text, "returned ") : NULL;
        const char *stop = what ? strstr(what, ", not a Response") : NULL;
        if (what && stop) {
            islet_fail(ISLET_FAIL_NOT_A_RESPONSE, what + 9, (size_t)(stop - what - 9));
        } else {
            islet_fail(ISLET_FAIL_EXCEPTION, text ? text : "?", text ? strlen(text) : 1);
        }
        free(text);
        JS_FreeValue(ctx, context);
        return;
    }
    int32_t status = 200;
    JSValue s = JS_GetPropertyUint32(ctx, parts, 0);
    JS_ToInt32(ctx, &status, s);
    islet_response_status(status);
    JSValue flat = JS_GetPropertyUint32(ctx, parts, 1);
    int64_t n = 0;
    JS_GetLength(ctx, flat, &n);
    for (int64_t i = 0; i + 1 < n; i += 2) {
        JSValue k = JS_GetPropertyInt64(ctx, flat, i);
        JSValue v = JS_GetPropertyInt64(ctx, flat, i + 1);
        const char *ks = JS_ToCString(ctx, k);
        const char *vs = JS_ToCString(ctx, v);
        if (ks && vs) islet_response_header(ks, vs);
        if (ks) JS_FreeCString(ctx, ks);
        if (vs) JS_FreeCString(ctx, vs);
        JS_FreeValue(ctx, k);
        JS_FreeValue(ctx, v);
    }
    JS_FreeValue(ctx, flat);
    JSValue bytes = JS_GetPropertyUint32(ctx, parts, 2);
    JSValue stream = JS_GetPropertyUint32(ctx, parts, 3);
    JS_FreeValue(ctx, parts);
    size_t len = 0;
    uint8_t *data = view_bytes(bytes, &len);
    if (data && len > 0) islet_response_write(data, len);
    JS_FreeValue(ctx, bytes);
    if (JS_IsObject(stream)) {
        JSValue pumped = call_hook("pumpBody", 1, &stream);
        if (JS_IsException(pumped)) {
            fail_with_exception(ISLET_FAIL_EXCEPTION);
        } else {
            pumped = await_value(pumped);
            JS_FreeValue(ctx, pumped);
        }
    }
    JS_FreeValue(ctx, stream);

    /* Work passed to ctx.waitUntil runs before the handler returns. */
    JSValue waits = call_hook("waitUntilPromise", 1, &context);
    JS_FreeValue(ctx, context);
    if (!JS_IsUndefined(waits) && !JS_IsException(waits)) {
        settle(waits);
    }
    JS_FreeValue(ctx, waits);
}

static void handle_request(void) {
#ifdef ISLET_STANDALONE
    if (!ctx) {
        islet_runtime_init();
        embedded_phase = 1;
        islet_runtime_load();
        islet_runtime_resume();
    }
#endif
    handle();
    clear_request_state();
    run_jobs();
    report_rejections();
}

ISLET_HANDLER(handle_request)
