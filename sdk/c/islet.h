/*
 * islet.h: write islet tenants in C.
 *
 * A tenant is a WebAssembly module built for wasm32-wasip1 with clang and
 * wasi-libc. It defines one handler and names it with ISLET_HANDLER:
 *
 *     #include "islet.h"
 *
 *     static void handle(void) {
 *         islet_response_header("content-type", "text/plain");
 *         islet_response_write_str("Hello from C!\n");
 *     }
 *     ISLET_HANDLER(handle)
 *
 * Build (reactor model: no main, the handler is an export):
 *
 *     clang --target=wasm32-wasip1 -mexec-model=reactor -O2 \
 *         -I sdk/c sdk/c/islet.c hello.c -o hello.wasm
 *
 * The handler runs once per request. Read the request with the
 * islet_request_* functions, answer with islet_response_* (status and
 * headers first, then body bytes; each write reaches the client before the
 * handler returns), call other services with islet_fetch, read the
 * tenant's vars with islet_env. printf() and fprintf(stderr) go to the
 * tenant's log. Strings returned as `char *` are malloc'd: free() them.
 *
 * The ABI under this header is documented in islet's bindings/ABI.md.
 */
#ifndef ISLET_H
#define ISLET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes (negative results of the functions below). */
#define ISLET_ABSENT (-1)  /* no such header or var */
#define ISLET_INVALID (-3) /* an argument is not valid */
#define ISLET_CLOSED (-4)  /* the client went away: stop writing */
#define ISLET_DENIED (-5)  /* fetch: the host is not in allowed_hosts */
#define ISLET_FAILED (-6)  /* fetch: connection, TLS, redirects, size */

/* Log levels. */
#define ISLET_DEBUG 0
#define ISLET_INFO 1
#define ISLET_WARN 2
#define ISLET_ERROR 3

/* Exports `fn` (a `void fn(void)`) as the tenant's request handler.
 * stdout and stderr are flushed after each request, so what the handler
 * printed reaches the log even without a newline. */
#define ISLET_HANDLER(fn)                                                     \
    __attribute__((export_name("islet_handle"))) void islet_handle(void) {    \
        fn();                                                                 \
        fflush(stdout);                                                       \
        fflush(stderr);                                                       \
    }

/* ---- The request ---------------------------------------------------- */

/* The method, e.g. "GET". */
char *islet_request_method(void);
/* The absolute URL, e.g. "http://example.com/a?b=c". */
char *islet_request_url(void);
/* The path of the URL, without the query, e.g. "/a". */
char *islet_request_path(void);
/* One header's value (repeated headers joined with ", "), or NULL. */
char *islet_request_header(const char *name);
/* Every header as "name: value\n" lines, names in lowercase. */
char *islet_request_headers(void);
/* Reads the next bytes of the body into buf: how many (0 at the end). */
long islet_request_body_read(void *buf, size_t cap);
/* Reads the whole body; *len receives its length. NUL-terminated. */
char *islet_request_body(size_t *len);

/* ---- The response --------------------------------------------------- */

/* Sets the status (default 200); 0 or ISLET_INVALID. */
int islet_response_status(int status);
/* Appends a header; 0 or ISLET_INVALID. */
int islet_response_header(const char *name, const char *value);
/* Sends the head if not yet sent, then body bytes; 0 or ISLET_CLOSED. */
int islet_response_write(const void *buf, size_t len);
/* islet_response_write of a NUL-terminated string. */
int islet_response_write_str(const char *text);

/* ---- Environment ---------------------------------------------------- */

/* The tenant's var `name`, or NULL. */
char *islet_env(const char *name);
/* A log line at `level` (ISLET_DEBUG ... ISLET_ERROR), printf-style. */
void islet_log(int level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* Fills buf with secure random bytes. */
void islet_random(void *buf, size_t len);

/* ---- Outbound requests ---------------------------------------------- */

/* An outbound response: status, headers, and a body read with
 * islet_fetch_read. Release it with islet_fetch_close. */
typedef struct islet_fetch_response {
    int32_t handle;
    int status;
} islet_fetch_response;

/*
 * Sends a request and waits for the response head. `headers` is NULL or
 * "name: value\n" lines; `body` may be NULL. Returns 0 and fills *out, or
 * a negative code (ISLET_DENIED, ISLET_FAILED, ISLET_INVALID); then
 * islet_last_error() says why, naming the host when it was denied.
 */
int islet_fetch(const char *method, const char *url, const char *headers,
                const void *body, size_t body_len, islet_fetch_response *out);
/* One header of an outbound response, or NULL. */
char *islet_fetch_header(const islet_fetch_response *response,
                         const char *name);
/* Every header of an outbound response as "name: value\n" lines. */
char *islet_fetch_headers(const islet_fetch_response *response);
/* Reads the next bytes of an outbound response's body (0 at the end). */
long islet_fetch_read(const islet_fetch_response *response, void *buf,
                      size_t cap);
/* Reads the whole body of an outbound response. NUL-terminated. */
char *islet_fetch_body(const islet_fetch_response *response, size_t *len);
/* Releases an outbound response. */
void islet_fetch_close(islet_fetch_response *response);

/* Why the last call that returned a negative code failed. */
char *islet_last_error(void);

/* ---- For language runtimes ------------------------------------------ */
/*
 * A language runtime (an interpreter that loads a tenant's source, see
 * sdk/runtimes and bindings/ABI.md, "Runtimes") names itself with
 * ISLET_RUNTIME and exports islet_runtime_init and islet_runtime_load.
 */

/* Names the module as runtime `name` at `version`; `platform` is "js" for
 * the JavaScript Web Platform layer, or "". */
#define ISLET_RUNTIME(name, version, platform)                                \
    __asm__(".section .custom_section.islet_runtime,\"\",@\n"                 \
            ".ascii \"name=" name "\\nversion=" version "\\nplatform=" platform \
            "\\n\"\n");

#define ISLET_OP_ERROR (-7) /* islet_op: the operation threw */

/* How a request failed, for islet_fail. */
#define ISLET_FAIL_EXCEPTION 0      /* an uncaught exception */
#define ISLET_FAIL_NOT_A_RESPONSE 1 /* the handler returned no response */
#define ISLET_FAIL_STALLED 2        /* its result can never arrive */

/* The names of the tenant's vars as "name\n" lines. */
char *islet_env_names(void);
/* While initialising or loading: the source to load (*len its length). */
char *islet_runtime_source(size_t *len);
/* Its file name, for messages. */
char *islet_runtime_source_name(void);
/* Runs platform operation `name` on encoded arguments (bindings/src/ops.rs
 * describes the encoding). Returns 0 or ISLET_OP_ERROR; either way *out
 * receives the malloc'd encoded result (after an error: [kind, message])
 * and *out_len its length. */
int islet_op(const char *name, const void *args, size_t args_len, char **out,
             size_t *out_len);
/* Fails the running request (or, while loading, the load) with `kind` and
 * a message for the log. */
void islet_fail(int kind, const char *message, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* ISLET_H */
