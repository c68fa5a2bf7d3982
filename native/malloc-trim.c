/*
 * malloc_trim(0) for Node (glibc only): gives the pages of malloc's free chunks back to the
 * kernel. glibc keeps what a burst freed (start-up, 10,000 upstream connections opened and
 * closed) in its arenas for good: only the top of an arena is ever returned by free(), and the
 * rest stays resident, interleaved with live chunks. Node has no call for it, and the variables
 * that tune malloc (MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES) are ignored in the container, where
 * `node` runs in secure mode (a file capability). See src/malloc-trim.ts.
 *
 * A Node-API module without Node's headers: the three functions it uses are declared here, and
 * resolved from the `node` executable when the module is loaded (as any addon's are), so `cc`
 * alone builds it (native/build.ts).
 */
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

extern napi_status napi_create_function(napi_env env, const char *name, size_t length, napi_callback cb, void *data, napi_value *result);
extern napi_status napi_set_named_property(napi_env env, napi_value object, const char *name, napi_value value);
extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);

/* trim(): true when malloc gave memory back. */
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
  return result;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "trim", (size_t)-1, trim, NULL, &fn) != 0) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != 0) return NULL;
  return exports;
}

/* Node-API version 1 is all this needs. */
__attribute__((visibility("default"))) int node_api_module_get_api_version_v1(void) { return 1; }
