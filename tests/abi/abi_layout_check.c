/* Compiles the ABI header as C11 and freezes the table layouts on LP64: a change
 * here breaks every plugin already built. Tables may only grow at the end. */
#include <stddef.h>

#include <haveri/plugin.h>

_Static_assert(sizeof(haveri_str) == 16, "haveri_str layout is frozen");
_Static_assert(offsetof(haveri_host_api, log) == 8, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, submit_inbound) == 16, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, respond) == 24, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, complete_operation) == 32, "host table layout is frozen");
_Static_assert(sizeof(haveri_host_api) == 40, "ABI 1.0 host table size");
_Static_assert(offsetof(haveri_plugin_api, abi_major) == 4, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, abi_minor) == 6, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, name) == 8, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, version) == 16, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, instance_create) == 24, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, instance_destroy) == 32,
               "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, handle_request) == 40, "plugin table layout is frozen");
_Static_assert(offsetof(haveri_plugin_api, perform_operation) == 48,
               "plugin table layout is frozen");
_Static_assert(sizeof(haveri_plugin_api) == 56, "ABI 1.0 plugin table size");

int haveri_abi_c_check_anchor(void);
int haveri_abi_c_check_anchor(void) {
  return HAVERI_ABI_VERSION_MAJOR;
}
