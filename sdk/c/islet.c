/*
 * islet.c: the C SDK's implementation over the raw `islet` imports
 * (bindings/ABI.md). Compile it with the tenant's own sources.
 */
#include "islet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMPORT(name) __attribute__((import_module("islet"), import_name(name)))

IMPORT("request_method") int32_t islet_raw_request_method(char *, int32_t);
IMPORT("request_url") int32_t islet_raw_request_url(char *, int32_t);
IMPORT("request_headers") int32_t islet_raw_request_headers(char *, int32_t);
IMPORT("request_header")
int32_t islet_raw_request_header(const char *, int32_t, char *, int32_t);
IMPORT("request_body_read") int32_t islet_raw_request_body_read(void *, int32_t);
IMPORT("response_set_status") int32_t islet_raw_response_set_status(int32_t);
IMPORT("response_add_header")
int32_t islet_raw_response_add_header(const char *, int32_t, const char *,
                                      int32_t);
IMPORT("response_write") int32_t islet_raw_response_write(const void *, int32_t);
IMPORT("env_get")
int32_t islet_raw_env_get(const char *, int32_t, char *, int32_t);
IMPORT("log") void islet_raw_log(int32_t, const char *, int32_t);
IMPORT("random_fill") int32_t islet_raw_random_fill(void *, int32_t);
IMPORT("fetch")
int32_t islet_raw_fetch(const char *, int32_t, const char *, int32_t,
                        const char *, int32_t, const void *, int32_t);
IMPORT("fetch_status") int32_t islet_raw_fetch_status(int32_t);
IMPORT("fetch_headers") int32_t islet_raw_fetch_headers(int32_t, char *, int32_t);
IMPORT("fetch_body_read")
int32_t islet_raw_fetch_body_read(int32_t, void *, int32_t);
IMPORT("fetch_close") int32_t islet_raw_fetch_close(int32_t);
IMPORT("last_error") int32_t islet_raw_last_error(char *, int32_t);
IMPORT("env_names") int32_t islet_raw_env_names(char *, int32_t);
IMPORT("op")
int32_t islet_raw_op(const char *, int32_t, const void *, int32_t);
IMPORT("op_result") int32_t islet_raw_op_result(char *, int32_t);
IMPORT("fail") void islet_raw_fail(int32_t, const char *, int32_t);
IMPORT("runtime_source") int32_t islet_raw_runtime_source(char *, int32_t);
IMPORT("runtime_source_name")
int32_t islet_raw_runtime_source_name(char *, int32_t);

/* Copy-out calls take (buf, cap) and return the full length: grow and
 * retry until the value fits. Each caller passes its import and, for the
 * ones that take a name or handle first, that argument. */
enum copy_kind { PLAIN, NAMED, HANDLE };

typedef struct {
    enum copy_kind kind;
    union {
        int32_t (*plain)(char *, int32_t);
        int32_t (*named)(const char *, int32_t, char *, int32_t);
        int32_t (*handle)(int32_t, char *, int32_t);
    } fn;
    const char *name;
    int32_t id;
} copy_call;

static int32_t call_once(const copy_call *c, char *buf, int32_t cap) {
    switch (c->kind) {
    case NAMED:
        return c->fn.named(c->name, (int32_t)strlen(c->name), buf, cap);
    case HANDLE:
        return c->fn.handle(c->id, buf, cap);
    default:
        return c->fn.plain(buf, cap);
    }
}

/* Copies a value out, starting with a buffer of `first` bytes; its length
 * goes to *len when len is not NULL. NUL-terminated either way. */
static char *copy_out_sized(const copy_call *c, int32_t first, size_t *len) {
    int32_t cap = first;
    for (;;) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf) return NULL;
        int32_t n = call_once(c, buf, cap);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if (n <= cap) {
            buf[n] = '\0';
            if (len) *len = (size_t)n;
            return buf;
        }
        free(buf);
        cap = n;
    }
}

static char *copy_out(const copy_call *c) { return copy_out_sized(c, 256, NULL); }

static char *plain(int32_t (*fn)(char *, int32_t)) {
    copy_call c = {.kind = PLAIN, .fn.plain = fn};
    return copy_out(&c);
}

char *islet_request_method(void) { return plain(islet_raw_request_method); }
char *islet_request_url(void) { return plain(islet_raw_request_url); }
char *islet_request_headers(void) { return plain(islet_raw_request_headers); }
char *islet_last_error(void) { return plain(islet_raw_last_error); }

char *islet_request_path(void) {
    char *url = islet_request_url();
    if (!url) return NULL;
    char *start = strstr(url, "://");
    start = start ? strchr(start + 3, '/') : NULL;
    const char *path = start ? start : "/";
    size_t len = strcspn(path, "?#");
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, path, len);
        out[len] = '\0';
    }
    free(url);
    return out;
}

char *islet_request_header(const char *name) {
    copy_call c = {.kind = NAMED, .fn.named = islet_raw_request_header,
                   .name = name};
    return copy_out(&c);
}

char *islet_env(const char *name) {
    copy_call c = {.kind = NAMED, .fn.named = islet_raw_env_get, .name = name};
    return copy_out(&c);
}

long islet_request_body_read(void *buf, size_t cap) {
    if (cap > INT32_MAX) cap = INT32_MAX;
    return islet_raw_request_body_read(buf, (int32_t)cap);
}

/* Reads a whole body through `read`, NUL-terminated. */
static char *read_all(long (*read)(const void *, void *, size_t),
                      const void *arg, size_t *len) {
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    for (;;) {
        if (used == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        long n = read(arg, buf + used, cap - used);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if (n == 0) break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    if (len) *len = used;
    return buf;
}

static long read_request(const void *arg, void *buf, size_t cap) {
    (void)arg;
    return islet_request_body_read(buf, cap);
}

char *islet_request_body(size_t *len) {
    return read_all(read_request, NULL, len);
}

int islet_response_status(int status) {
    return islet_raw_response_set_status(status);
}

int islet_response_header(const char *name, const char *value) {
    return islet_raw_response_add_header(name, (int32_t)strlen(name), value,
                                         (int32_t)strlen(value));
}

int islet_response_write(const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        int32_t n = len > (1u << 30) ? (1 << 30) : (int32_t)len;
        int32_t code = islet_raw_response_write(p, n);
        if (code < 0) return code;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int islet_response_write_str(const char *text) {
    return islet_response_write(text, strlen(text));
}

void islet_log(int level, const char *format, ...) {
    char small[512];
    va_list args;
    va_start(args, format);
    int len = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (len < 0) return;
    if ((size_t)len < sizeof small) {
        islet_raw_log(level, small, len);
        return;
    }
    char *big = malloc((size_t)len + 1);
    if (!big) return;
    va_start(args, format);
    vsnprintf(big, (size_t)len + 1, format, args);
    va_end(args);
    islet_raw_log(level, big, len);
    free(big);
}

void islet_random(void *buf, size_t len) {
    islet_raw_random_fill(buf, (int32_t)len);
}

int islet_fetch(const char *method, const char *url, const char *headers,
                const void *body, size_t body_len, islet_fetch_response *out) {
    if (!headers) headers = "";
    if (!body) body_len = 0;
    int32_t handle = islet_raw_fetch(
        method, (int32_t)strlen(method), url, (int32_t)strlen(url), headers,
        (int32_t)strlen(headers), body, (int32_t)body_len);
    if (handle < 0) return handle;
    out->handle = handle;
    out->status = islet_raw_fetch_status(handle);
    return 0;
}

char *islet_fetch_header(const islet_fetch_response *response,
                         const char *name) {
    copy_call c = {.kind = HANDLE, .fn.handle = islet_raw_fetch_headers,
                   .id = response->handle};
    char *lines = copy_out(&c);
    if (!lines) return NULL;
    size_t name_len = strlen(name);
    char *found = NULL;
    for (char *line = lines; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > name_len + 1 && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *value = line + name_len + 1;
            while (*value == ' ') value++;
            size_t value_len = len - (size_t)(value - line);
            found = malloc(value_len + 1);
            if (found) {
                memcpy(found, value, value_len);
                found[value_len] = '\0';
            }
            break;
        }
        if (!end) break;
        line = end + 1;
    }
    free(lines);
    return found;
}

long islet_fetch_read(const islet_fetch_response *response, void *buf,
                      size_t cap) {
    if (cap > INT32_MAX) cap = INT32_MAX;
    return islet_raw_fetch_body_read(response->handle, buf, (int32_t)cap);
}

static long read_fetch(const void *arg, void *buf, size_t cap) {
    return islet_fetch_read(arg, buf, cap);
}

char *islet_fetch_body(const islet_fetch_response *response, size_t *len) {
    return read_all(read_fetch, response, len);
}

void islet_fetch_close(islet_fetch_response *response) {
    if (response->handle > 0) islet_raw_fetch_close(response->handle);
    response->handle = 0;
}

/* ---- For language runtimes ------------------------------------------ */

char *islet_env_names(void) { return plain(islet_raw_env_names); }

char *islet_runtime_source_name(void) {
    return plain(islet_raw_runtime_source_name);
}

/* A copy-out value that may hold NUL bytes: its length in *len. */
static char *sized(int32_t (*fn)(char *, int32_t), int32_t first,
                   size_t *len) {
    copy_call c = {.kind = PLAIN, .fn.plain = fn};
    return copy_out_sized(&c, first, len);
}

char *islet_runtime_source(size_t *len) {
    return sized(islet_raw_runtime_source, 4096, len);
}

int islet_op(const char *name, const void *args, size_t args_len, char **out,
             size_t *out_len) {
    int32_t n = islet_raw_op(name, (int32_t)strlen(name), args,
                             (int32_t)args_len);
    int rc = n == ISLET_OP_ERROR ? ISLET_OP_ERROR : 0;
    *out = sized(islet_raw_op_result, n > 0 ? n : 256, out_len);
    return rc;
}

void islet_fail(int kind, const char *message, size_t len) {
    islet_raw_fail(kind, message, (int32_t)len);
}

char *islet_fetch_headers(const islet_fetch_response *response) {
    copy_call c = {.kind = HANDLE,
                   .fn.handle = islet_raw_fetch_headers,
                   .id = response->handle};
    return copy_out(&c);
}
