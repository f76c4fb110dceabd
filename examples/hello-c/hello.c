/*
 * Hello world in C, on the islet C SDK (sdk/c). Build:
 *
 *     clang --target=wasm32-wasip1 -mexec-model=reactor -O2 \
 *         -I sdk/c sdk/c/islet.c examples/hello-c/hello.c -o hello_c.wasm
 *
 * It greets with the GREETING var, echoes the path, and with ?upstream=1
 * fetches the UPSTREAM var's URL and reports what came back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "islet.h"

static void handle(void) {
    char *method = islet_request_method();
    char *path = islet_request_path();
    char *url = islet_request_url();
    char *greeting = islet_env("GREETING");

    printf("handling %s %s\n", method, path);
    if (url && strstr(url, "upstream=1")) {
        char *upstream = islet_env("UPSTREAM");
        islet_fetch_response response;
        int code = upstream ? islet_fetch("GET", upstream, "accept: text/plain\n",
                                          NULL, 0, &response)
                            : ISLET_INVALID;
        if (code == 0) {
            size_t len = 0;
            char *body = islet_fetch_body(&response, &len);
            islet_response_header("content-type", "text/plain");
            char line[128];
            snprintf(line, sizeof line, "upstream answered %d with %zu bytes: ",
                     response.status, len);
            islet_response_write_str(line);
            islet_response_write(body, len);
            free(body);
            islet_fetch_close(&response);
        } else {
            char *why = islet_last_error();
            islet_response_status(502);
            islet_response_header("content-type", "text/plain");
            islet_response_write_str("fetch failed: ");
            islet_response_write_str(why ? why : "UPSTREAM is not set");
            islet_response_write_str("\n");
            free(why);
        }
        free(upstream);
    } else {
        islet_response_header("content-type", "text/plain");
        islet_response_write_str(greeting ? greeting : "Hello");
        islet_response_write_str(" from C! ");
        islet_response_write_str(method);
        islet_response_write_str(" ");
        islet_response_write_str(path);
        islet_response_write_str("\n");
    }
    free(method);
    free(path);
    free(url);
    free(greeting);
}

ISLET_HANDLER(handle)
