/* Compiles the ABI header as C11 and freezes the table layouts on LP64: a change
 * here breaks every plugin already built. Tables may only grow at the end: 1.0
 * ended the plugin table at 56 bytes, 1.1 appended describe_instance. */
#include <stddef.h>
#include <string.h>

#include <haveri/plugin.h>

_Static_assert(sizeof(haveri_str) == 16, "haveri_str layout is frozen");
_Static_assert(offsetof(haveri_host_api, log) == 8, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, submit_inbound) == 16, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, respond) == 24, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, complete_operation) == 32, "host table layout is frozen");
_Static_assert(offsetof(haveri_host_api, http_request) == 40, "ABI 1.2 host services follow 1.0");
_Static_assert(offsetof(haveri_host_api, begin_inbound) == 88, "host table layout is frozen");
_Static_assert(sizeof(haveri_host_api) == 96, "ABI 1.2 host table size");
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
_Static_assert(offsetof(haveri_plugin_api, describe_instance) == 56,
               "ABI 1.1 appended describe_instance at the end of the 1.0 table");
_Static_assert(offsetof(haveri_plugin_api, on_http_response) == 64,
               "ABI 1.2 appended the service callbacks at the end of the 1.1 table");
_Static_assert(offsetof(haveri_plugin_api, on_inbound_settled) == 88,
               "plugin table layout is frozen");
_Static_assert(sizeof(haveri_plugin_api) == 96, "ABI 1.2 plugin table size");

int haveri_abi_c_check_anchor(void);
int haveri_abi_c_check_anchor(void) {
  /* The C form of HAVERI_TABLE_HAS compiles; a table of the 1.0 size lacks describe_instance. */
  haveri_plugin_api table;
  memset(&table, 0, sizeof table);
  table.struct_size = (uint32_t)offsetof(haveri_plugin_api, describe_instance);
  return HAVERI_TABLE_HAS(haveri_plugin_api, &table, describe_instance) ? -1
                                                                        : HAVERI_ABI_VERSION_MAJOR;
}
