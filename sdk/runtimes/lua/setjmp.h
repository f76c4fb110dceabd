/*
 * wasi-libc has no setjmp/longjmp (WebAssembly cannot jump out of a call
 * frame without the exception-handling proposal). Lua's ldo.c includes
 * this header but, with islet_lua.h's LUAI_THROW/LUAI_TRY, uses nothing
 * from it.
 */
#ifndef ISLET_LUA_SETJMP_H
#define ISLET_LUA_SETJMP_H
#endif
