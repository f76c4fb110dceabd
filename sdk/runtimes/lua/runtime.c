/*
 * The Lua runtime: Lua 5.4 tenants, inside WebAssembly.
 *
 * A tenant is a Lua chunk that defines a global function
 *
 *     function fetch(request, env)
 *       return { status = 200, headers = { ["content-type"] = "text/plain" },
 *                body = "Hello from Lua, " .. request.path }
 *     end
 *
 * `request` has `method`, `url`, `path`, `query`, `headers` (lowercase
 * names) and `body`; `env` holds the tenant's vars. The result is a table
 * as above (every field optional) or a string (a 200 text response).
 * `islet.log(...)` logs, `islet.fetch(url [, {method, headers, body}])`
 * calls another service (allowed_hosts applies) and returns
 * `{status, headers, body}` or `nil, message`.
 *
 * The base, coroutine, table, string, math and utf8 libraries are there;
 * io, os, package and the functions that run code from strings or files
 * (load, loadstring, dofile, loadfile, require) are not. An error ends
 * the request (see islet_lua.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "islet.h"
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

ISLET_RUNTIME("lua", "5.4.9-1", "")

static lua_State *L;

void islet_lua_throw(lua_State *state, int status) {
    const char *message = status == LUA_ERRMEM ? "not enough memory" : NULL;
    if (!message) message = lua_tostring(state, -1);
    if (!message) message = "an error object that is not a string";
    islet_fail(ISLET_FAIL_EXCEPTION, message, strlen(message));
    __builtin_trap();
}

static int panic(lua_State *state) {
    islet_lua_throw(state, LUA_ERRRUN);
}

/* islet.log(...): the arguments, tab-separated, at info level. */
static int lua_islet_log(lua_State *state) {
    luaL_Buffer b;
    luaL_buffinit(state, &b);
    int n = lua_gettop(state);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(state, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    islet_log(ISLET_INFO, "%s", lua_tostring(state, -1));
    return 0;
}

/* "name: value\n" lines -> a table of lowercase names. */
static void push_headers(lua_State *state, char *lines) {
    lua_newtable(state);
    for (char *line = lines; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *colon = strstr(line, ": ");
        if (colon) {
            *colon = '\0';
            lua_pushstring(state, colon + 2);
            lua_setfield(state, -2, line);
        }
        if (!end) break;
        line = end + 1;
    }
}

/* islet.fetch(url [, options]) -> response | nil, message */
static int lua_islet_fetch(lua_State *state) {
    const char *url = luaL_checkstring(state, 1);
    const char *method = "GET";
    const char *body = NULL;
    size_t body_len = 0;
    luaL_Buffer headers;
    luaL_buffinit(state, &headers);
    if (lua_istable(state, 2)) {
        if (lua_getfield(state, 2, "method") == LUA_TSTRING) method = lua_tostring(state, -1);
        if (lua_getfield(state, 2, "body") == LUA_TSTRING) body = lua_tolstring(state, -1, &body_len);
        if (lua_getfield(state, 2, "headers") == LUA_TTABLE) {
            lua_pushnil(state);
            while (lua_next(state, -2)) {
                lua_pushvalue(state, -2);
                luaL_addstring(&headers, luaL_tolstring(state, -1, NULL));
                lua_pop(state, 2);
                luaL_addstring(&headers, ": ");
                luaL_addstring(&headers, luaL_tolstring(state, -1, NULL));
                lua_pop(state, 2);
                luaL_addchar(&headers, '\n');
            }
        }
        lua_pop(state, 1);
    }
    luaL_pushresult(&headers);
    islet_fetch_response response;
    int rc = islet_fetch(method, url, lua_tostring(state, -1), body, body_len, &response);
    if (rc != 0) {
        char *why = islet_last_error();
        lua_pushnil(state);
        lua_pushstring(state, why ? why : "fetch failed");
        free(why);
        return 2;
    }
    lua_newtable(state);
    lua_pushinteger(state, response.status);
    lua_setfield(state, -2, "status");
    char *lines = islet_fetch_headers(&response);
    push_headers(state, lines);
    free(lines);
    lua_setfield(state, -2, "headers");
    size_t len = 0;
    char *data = islet_fetch_body(&response, &len);
    lua_pushlstring(state, data ? data : "", data ? len : 0);
    free(data);
    lua_setfield(state, -2, "body");
    islet_fetch_close(&response);
    return 1;
}

__attribute__((export_name("islet_runtime_init"))) void islet_runtime_init(void) {
    L = luaL_newstate();
    if (!L) {
        islet_fail(ISLET_FAIL_EXCEPTION, "cannot create the Lua state", 27);
        return;
    }
    lua_atpanic(L, panic);
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_TABLIBNAME, luaopen_table},    {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* No code from strings or files. */
    static const char *const refused[] = {"load", "loadstring", "dofile", "loadfile", "require"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        lua_pushnil(L);
        lua_setglobal(L, refused[i]);
    }
    static const luaL_Reg islet_lib[] = {
        {"log", lua_islet_log},
        {"fetch", lua_islet_fetch},
        {NULL, NULL},
    };
    luaL_newlib(L, islet_lib);
    lua_setglobal(L, "islet");
}

__attribute__((export_name("islet_runtime_load"))) void islet_runtime_load(void) {
    size_t len = 0;
    char *source = islet_runtime_source(&len);
    char *name = islet_runtime_source_name();
    if (!source || !name) {
        islet_fail(ISLET_FAIL_EXCEPTION, "out of memory", 13);
        return;
    }
    /* "=name" makes messages read "name:3: ..."; "t" refuses bytecode. */
    size_t name_len = strlen(name);
    char *chunk = malloc(name_len + 2);
    chunk[0] = '=';
    memcpy(chunk + 1, name, name_len + 1);
    int rc = luaL_loadbufferx(L, source, len, chunk, "t");
    free(source);
    free(name);
    free(chunk);
    if (rc != LUA_OK) {
        const char *message = lua_tostring(L, -1);
        islet_fail(ISLET_FAIL_EXCEPTION, message, strlen(message));
        return;
    }
    lua_call(L, 0, 0);
    if (lua_getglobal(L, "fetch") != LUA_TFUNCTION) {
        static const char missing[] = "the script defines no global function `fetch(request, env)`";
        islet_fail(ISLET_FAIL_EXCEPTION, missing, sizeof missing - 1);
        return;
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "islet.fetch");
    /* env */
    lua_newtable(L);
    char *names = islet_env_names();
    for (char *n = names; n && *n;) {
        char *end = strchr(n, '\n');
        if (end) *end = '\0';
        char *value = islet_env(n);
        if (value) {
            lua_pushstring(L, value);
            lua_setfield(L, -2, n);
        }
        free(value);
        if (!end) break;
        n = end + 1;
    }
    free(names);
    lua_setfield(L, LUA_REGISTRYINDEX, "islet.env");
}

/* Every restored instance gets its own random sequence. */
__attribute__((export_name("islet_runtime_resume"))) void islet_runtime_resume(void) {
    int64_t seed[2];
    islet_random(seed, sizeof seed);
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, seed[0]);
    lua_pushinteger(L, seed[1]);
    lua_call(L, 2, 0);
    lua_pop(L, 1);
}

static void handle(void) {
    lua_getfield(L, LUA_REGISTRYINDEX, "islet.fetch");
    lua_newtable(L);
    char *method = islet_request_method();
    lua_pushstring(L, method ? method : "GET");
    lua_setfield(L, -2, "method");
    char *url = islet_request_url();
    lua_pushstring(L, url ? url : "");
    lua_setfield(L, -2, "url");
    char *path = islet_request_path();
    lua_pushstring(L, path ? path : "/");
    lua_setfield(L, -2, "path");
    char *query = url ? strchr(url, '?') : NULL;
    lua_pushstring(L, query ? query + 1 : "");
    lua_setfield(L, -2, "query");
    free(url);
    free(path);
    char *lines = islet_request_headers();
    push_headers(L, lines);
    free(lines);
    lua_setfield(L, -2, "headers");
    size_t len = 0;
    char *body = islet_request_body(&len);
    lua_pushlstring(L, body ? body : "", body ? len : 0);
    free(body);
    lua_setfield(L, -2, "body");
    free(method);
    lua_getfield(L, LUA_REGISTRYINDEX, "islet.env");
    lua_call(L, 2, 1);

    if (lua_type(L, -1) == LUA_TSTRING) {
        islet_response_header("content-type", "text/plain;charset=UTF-8");
        size_t n;
        const char *text = lua_tolstring(L, -1, &n);
        islet_response_write(text, n);
    } else if (lua_istable(L, -1)) {
        if (lua_getfield(L, -1, "status") == LUA_TNUMBER) {
            islet_response_status((int)lua_tointeger(L, -1));
        }
        lua_pop(L, 1);
        if (lua_getfield(L, -1, "headers") == LUA_TTABLE) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                const char *value = luaL_tolstring(L, -1, NULL);
                const char *name = luaL_tolstring(L, -3, NULL);
                islet_response_header(name, value);
                lua_pop(L, 3);
            }
        }
        lua_pop(L, 1);
        if (lua_getfield(L, -1, "body") != LUA_TNIL) {
            size_t n;
            const char *text = luaL_tolstring(L, -1, &n);
            islet_response_write(text, n);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else {
        const char *what = luaL_typename(L, -1);
        islet_fail(ISLET_FAIL_NOT_A_RESPONSE, what, strlen(what));
    }
    lua_settop(L, 0);
}

ISLET_HANDLER(handle)
