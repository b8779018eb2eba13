/* A plugin written in plain C whose instance_create rejects every configuration,
 * logging why through the host, as the ABI asks. */
#include <string.h>

#include <haveri/plugin.h>

static haveri_status create(const haveri_host_api* host, haveri_host_instance* host_instance,
                            haveri_str name, haveri_str config, haveri_plugin_instance** out) {
  static const char kWhy[] = "settings.token: required (set it to the platform token)";
  haveri_str why = {kWhy, sizeof kWhy - 1};
  (void)name;
  (void)config;
  (void)out;
  host->log(host_instance, HAVERI_LOG_ERROR, why);
  return HAVERI_ERR_INVALID;
}

static void destroy(haveri_plugin_instance* instance) {
  (void)instance;
}

static haveri_status handle(haveri_plugin_instance* instance, uint64_t id, haveri_str request,
                            haveri_str body) {
  (void)instance;
  (void)id;
  (void)request;
  (void)body;
  return HAVERI_ERR_UNSUPPORTED;
}

static haveri_status perform(haveri_plugin_instance* instance, uint64_t id, haveri_str op) {
  (void)instance;
  (void)id;
  (void)op;
  return HAVERI_ERR_UNSUPPORTED;
}

HAVERI_PLUGIN_EXPORT const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor);

const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor) {
  static haveri_plugin_api api;
  (void)major;
  (void)minor;
  memset(&api, 0, sizeof api);
  api.struct_size = sizeof api;
  api.abi_major = HAVERI_ABI_VERSION_MAJOR;
  api.abi_minor = HAVERI_ABI_VERSION_MINOR;
  api.name = "create_fails";
  api.version = "0.0.1";
  api.instance_create = create;
  api.instance_destroy = destroy;
  api.handle_request = handle;
  api.perform_operation = perform;
  return &api;
}
