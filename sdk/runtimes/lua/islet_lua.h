/*
 * Included before every Lua source file (build.sh passes -include).
 *
 * Lua raises errors with longjmp, which WebAssembly without exception
 * handling cannot do. Here an error ends the request instead: the runtime
 * reports the error message to islet and traps, islet answers 500 and the
 * next request starts from the tenant's snapshot. `pcall` and `error`
 * therefore cannot catch an error; see the README's limitations.
 */
#ifndef ISLET_LUA_H
#define ISLET_LUA_H

struct lua_State;
void islet_lua_throw(struct lua_State *L, int status) __attribute__((noreturn));

#define LUAI_THROW(L, c) islet_lua_throw(L, (c)->status)
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int

#endif
